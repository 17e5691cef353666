package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/ui"
)

// consoleConfig bounds a console run.
type consoleConfig struct {
	DB      string
	As      string
	Width   int
	Height  int
	Repeat  int
	Starts  int
	Bin     string // jitdesk binary: also time `request list` as a process
	Filters string // filter cases, see defaultFilters
	Timeout time.Duration
}

// FilterCase is one filter keystroke measurement: with Prefix typed, Last
// is typed and erased in turn.
type FilterCase struct {
	Tab     string  `json:"tab"`
	Prefix  string  `json:"prefix"`
	Last    string  `json:"last"`
	Latency Latency `json:"latency"`
}

// ConsoleReport is the whole console run.
type ConsoleReport struct {
	Machine    Machine            `json:"machine"`
	DB         string             `json:"db"`
	DBMiB      float64            `json:"db_mib"`
	Login      string             `json:"login"`
	Size       string             `json:"size"`
	Counts     [3]int             `json:"tab_counts"` // needs me, pending, history
	FirstFrame Latency            `json:"first_frame"`
	FirstCold  float64            `json:"first_frame_first_ms"` // the first start of the process
	Move       Latency            `json:"cursor_move"`
	PageDown   Latency            `json:"page_down"`
	Tab        map[string]Latency `json:"tab_switch"` // by the tab switched to
	TabOrder   []string           `json:"tabs"`
	Filters    []FilterCase       `json:"filter_keystroke"`
	KeyUpdate  Latency            `json:"key_update_view"` // Update+View of a key on the program goroutine
	Lists      map[string]Latency `json:"list_first_page"` // Service.List, first page of 50
	CountQ     map[string]Latency `json:"count"`           // Service.Count, what the tab labels cost
	ListExec   map[string]Latency `json:"request_list_process,omitempty"`
	ListRSSKiB int64              `json:"request_list_max_rss_kib,omitempty"`
	MemStart   Mem                `json:"mem_before_console"`
	MemEnd     Mem                `json:"mem_after"`
}

func newConsoleCmd(out *output) *cobra.Command {
	cfg := consoleConfig{}
	cmd := &cobra.Command{
		Use:   "console --db PATH",
		Short: "The console on a (big) database: first frame, move, page down, filter, tab switch, memory",
		Long: `Opens the console on --db the way jitdesk console does (ui.New under a
tea.Program, output discarded, a --width×--height window), drives it with the key
messages a terminal sends and times, from each key to the first frame that shows its
result (a filter's or tab's rows loaded, not "searching…"/"loading…"): start to the
first full frame (rows and tab counts), cursor move, page down, filter keystrokes
and tab switches, each --repeat times. It also times the first page of each list and
the tab counts in the Service, ` + "`jitdesk request list`" + ` as a process (with --bin),
and reports this process's memory (VmRSS, VmHWM).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DB == "" {
				return errors.New("--db is required (build one with: jitdesk --db PATH demo seed --requests 1000000)")
			}
			rep, err := runConsole(cmd.Context(), cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return out.print(rep, rep.table)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DB, "db", "", "database file")
	f.StringVar(&cfg.As, "as", "alex", "approver the console acts as")
	f.IntVar(&cfg.Width, "width", 120, "terminal columns")
	f.IntVar(&cfg.Height, "height", 40, "terminal rows")
	f.IntVar(&cfg.Repeat, "repeat", 40, "measurements per interaction")
	f.IntVar(&cfg.Starts, "starts", 5, "console starts measured")
	f.StringVar(&cfg.Filters, "filters", defaultFilters, "filter keystrokes to time: TAB:PREFIX:LAST,… (TAB 0 needs me, 1 all pending, 2 history; LAST typed and erased in turn)")
	f.StringVar(&cfg.Bin, "bin", "", "jitdesk binary: also time `request list` as a process")
	f.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "longest wait for one frame")
	return cmd
}

// probe wraps the console's root model: it counts key presses and, when a
// measurement waits, checks each frame the program renders.
type probe struct {
	tea.Model
	mu      sync.Mutex
	keys    int
	want    int                               // frames count once keys ≥ want
	pred    func(text string, pages int) bool // the frame's text (ANSI stripped), list pages delivered since the key
	pages   int
	done    chan time.Time  // receives the matching frame's time
	keyCost []time.Duration // Update+View of each key message
	keyT0   time.Time       // when the last key's Update began
	content func() string   // the frame as text
}

func (p *probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, isKey := msg.(tea.KeyPressMsg)
	if isKey {
		p.mu.Lock()
		p.keys++
		p.keyT0 = time.Now()
		p.mu.Unlock()
	}
	if fmt.Sprintf("%T", msg) == "ui.pageMsg" { // a list page from the store reached the console
		p.mu.Lock()
		if p.done != nil && p.keys >= p.want {
			p.pages++
		}
		p.mu.Unlock()
	}
	_, cmd := p.Model.Update(msg)
	return p, cmd
}

func (p *probe) View() tea.View {
	v := p.Model.View()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.keyT0.IsZero() {
		p.keyCost = append(p.keyCost, now.Sub(p.keyT0))
		p.keyT0 = time.Time{}
	}
	if p.done != nil && p.keys >= p.want && p.pred(ansi.Strip(v.Content), p.pages) {
		p.done <- now
		p.done = nil
	}
	return v
}

// expect arms a wait for the first frame, after want key presses, whose
// text satisfies pred.
func (p *probe) expect(want int, pred func(string, int) bool) chan time.Time {
	ch := make(chan time.Time, 1)
	p.mu.Lock()
	p.want, p.pred, p.done, p.pages = want, pred, ch, 0
	p.mu.Unlock()
	return ch
}

// console is one running console program.
type console struct {
	p     *tea.Program
	pr    *probe
	m     tea.Model
	in    *io.PipeWriter
	ended chan struct{}
}

func startConsole(svc *approvals.Service, login string, w, h int) *console {
	m := ui.New(ui.Options{Service: svc, Login: login, Bell: true, Notify: true})
	pr := &probe{Model: m}
	r, wr := io.Pipe()
	p := tea.NewProgram(pr, tea.WithInput(r), tea.WithOutput(io.Discard), tea.WithWindowSize(w, h),
		tea.WithoutSignals(), tea.WithEnvironment([]string{"TERM=xterm-256color"}), tea.WithColorProfile(colorprofile.TrueColor))
	c := &console{p: p, pr: pr, m: m, in: wr, ended: make(chan struct{})}
	return c
}

func (c *console) run() {
	go func() {
		_, _ = c.p.Run()
		close(c.ended)
	}()
}

func (c *console) stop() {
	c.p.Quit()
	select {
	case <-c.ended:
	case <-time.After(5 * time.Second):
		c.p.Kill()
	}
	c.in.Close()
	if cl, ok := c.m.(io.Closer); ok {
		cl.Close()
	}
}

// key sends one key and waits for the frame that shows its result.
func (c *console) key(k tea.KeyPressMsg, pred func(string, int) bool, timeout time.Duration) (time.Duration, error) {
	c.pr.mu.Lock()
	want := c.pr.keys + 1
	c.pr.mu.Unlock()
	ch := c.pr.expect(want, pred)
	t0 := time.Now()
	c.p.Send(k)
	select {
	case at := <-ch:
		return at.Sub(t0), nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("no frame showed the result of %q within %s", k.String(), timeout)
	}
}

func anyFrame(string, int) bool { return true }

// lastFrame renders the console's current frame as text.
func (c *console) lastFrame() string {
	type contenter interface{ Content() string }
	if m, ok := c.m.(contenter); ok {
		return ansi.Strip(m.Content())
	}
	return ""
}

// tabLabels reads the tab names off a queue frame's tab line, counts
// dropped: " Needs me (5040)   All pending (5040)   History (994966)   On call".
func tabLabels(frame string) []string {
	lines := strings.Split(frame, "\n")
	if len(lines) < 2 {
		return nil
	}
	var out []string
	for _, f := range strings.Split(lines[1], "   ") {
		f = strings.TrimSpace(f)
		if i := strings.Index(f, " ("); i > 0 {
			f = f[:i]
		}
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// filterCase is a filter keystroke to measure: on tab (0 needs me, 1 all
// pending, 2 history), with prefix typed, last typed and erased in turn.
type filterCase struct {
	tab          int
	prefix, last string
}

// defaultFilters are the filter cases measured unless --filters says
// otherwise: TAB:PREFIX:LAST, comma-separated.
const defaultFilters = "0::p,0:z:z,0:pri:y,0:zzq:x,2::p,2:pri:y,2:z:z,2:zzq:x"

func parseFilterCases(s string) ([]filterCase, error) {
	var out []filterCase
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		parts := strings.Split(f, ":")
		if len(parts) != 3 || len(parts[0]) != 1 || parts[0][0] < '0' || parts[0][0] > '2' || parts[2] == "" {
			return nil, fmt.Errorf("--filters: %q is not TAB:PREFIX:LAST (TAB 0 needs me, 1 all pending, 2 history)", f)
		}
		out = append(out, filterCase{tab: int(parts[0][0] - '0'), prefix: parts[1], last: parts[2]})
	}
	return out, nil
}

func settled(s string, _ int) bool {
	return !strings.Contains(s, "searching…") && !strings.Contains(s, "loading…")
}

// fullFrame is the first complete screen: rows (or the empty message) and
// the tab counts.
func fullFrame(s string, pages int) bool {
	return pages > 0 && strings.Contains(s, "Needs me (") && settled(s, pages)
}

// loaded is the frame after a key that (re)loads a list: its page arrived.
func loaded(s string, pages int) bool {
	return pages > 0 && settled(s, pages)
}

func press(k string) tea.KeyPressMsg {
	switch k {
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

func runConsole(ctx context.Context, cfg consoleConfig, logw io.Writer) (*ConsoleReport, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(logw, "jitload: "+format+"\n", a...) }
	if cfg.Repeat < 1 || cfg.Starts < 1 {
		return nil, errors.New("--repeat and --starts must be ≥ 1")
	}
	if _, err := os.Stat(cfg.DB); err != nil {
		return nil, fmt.Errorf("--db: %w", err)
	}
	rep := &ConsoleReport{Machine: machine(), DB: cfg.DB, Login: cfg.As, Size: fmt.Sprintf("%d×%d", cfg.Width, cfg.Height),
		Tab: map[string]Latency{}, Lists: map[string]Latency{}, CountQ: map[string]Latency{}}
	if fi, err := os.Stat(cfg.DB); err == nil {
		rep.DBMiB = float64(fi.Size()) / (1 << 20)
	}
	db, err := store.Open(cfg.DB)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	svc := approvals.New(db, approvals.Options{})
	if _, err := svc.Approver(ctx, cfg.As); err != nil {
		return nil, fmt.Errorf("--as %s: %w", cfg.As, err)
	}
	rep.MemStart = selfMem()

	// The console as jitdesk console runs it: with a sweeper beside it.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go svc.RunSweeper(sctx, 5*time.Second, nil)

	logf("console: %d starts (load %s)", cfg.Starts, loadAvg())
	var starts []time.Duration
	for i := range cfg.Starts {
		t0 := time.Now()
		c := startConsole(svc, cfg.As, cfg.Width, cfg.Height)
		ch := c.pr.expect(0, fullFrame)
		c.run()
		select {
		case at := <-ch:
			starts = append(starts, at.Sub(t0))
			if i == 0 {
				rep.FirstCold = ms(at.Sub(t0))
			}
		case <-time.After(cfg.Timeout):
			c.stop()
			return nil, fmt.Errorf("console start: no full frame within %s", cfg.Timeout)
		}
		c.stop()
	}
	rep.FirstFrame = summarize(starts)

	c := startConsole(svc, cfg.As, cfg.Width, cfg.Height)
	ch := c.pr.expect(0, fullFrame)
	c.run()
	defer c.stop()
	select {
	case <-ch:
	case <-time.After(cfg.Timeout):
		return nil, errors.New("console: no first frame")
	}
	measure := func(k string, pred func(string, int) bool, n int) (Latency, error) {
		var ds []time.Duration
		for range n {
			d, err := c.key(press(k), pred, cfg.Timeout)
			if err != nil {
				return Latency{}, err
			}
			ds = append(ds, d)
			time.Sleep(5 * time.Millisecond) // let prefetches land, as between real keystrokes
		}
		return summarize(ds), nil
	}
	// settle waits until the screen shows no load in progress.
	settle := func() error {
		d := c.pr.expect(0, settled)
		select {
		case <-d:
			time.Sleep(50 * time.Millisecond)
			return nil
		case <-time.After(cfg.Timeout):
			return errors.New("console did not settle")
		}
	}
	logf("console: cursor moves and page downs (load %s)", loadAvg())
	if rep.Move, err = measure("down", anyFrame, cfg.Repeat); err != nil {
		return nil, err
	}
	if rep.PageDown, err = measure("pgdown", anyFrame, cfg.Repeat); err != nil {
		return nil, err
	}
	if _, err := c.key(press("home"), settled, cfg.Timeout); err != nil {
		return nil, err
	}
	logf("console: tab switches (load %s)", loadAvg())
	// The tabs as the console labels them, in order (read off the frame:
	// the console gains tabs).
	tabNames := tabLabels(c.lastFrame())
	if len(tabNames) < 3 {
		return nil, fmt.Errorf("console: cannot read the tabs off the frame:\n%s", c.lastFrame())
	}
	nt := len(tabNames)
	tabDs := map[string][]time.Duration{}
	for i := range max(cfg.Repeat/nt, 2) * nt {
		to := tabNames[(i+1)%nt]
		pred := loaded // the three list tabs load their first page
		if (i+1)%nt > 2 {
			pred = settled // a tab that is not a list (On call)
		}
		d, err := c.key(press("tab"), pred, cfg.Timeout)
		if err != nil {
			return nil, fmt.Errorf("tab to %s: %w; last frame:\n%s", to, err, c.lastFrame())
		}
		tabDs[to] = append(tabDs[to], d)
	}
	for k, v := range tabDs {
		rep.Tab[k] = summarize(v)
	}
	rep.TabOrder = tabNames
	// Filter keystrokes, each case on the tab named (0 needs me, 1 all
	// pending, 2 history), beginning from the needs-me tab.
	cases, err := parseFilterCases(cfg.Filters)
	if err != nil {
		return nil, err
	}
	tab := 0
	for _, fc := range cases {
		for tab != fc.tab {
			pred := loaded
			if (tab+1)%nt > 2 {
				pred = settled
			}
			if _, err := c.key(press("tab"), pred, cfg.Timeout); err != nil {
				return nil, err
			}
			tab = (tab + 1) % nt
		}
		logf("console: filter %q+%q on %s (load %s)", fc.prefix, fc.last, tabNames[fc.tab], loadAvg())
		if _, err := c.key(press("/"), anyFrame, cfg.Timeout); err != nil {
			return nil, err
		}
		for _, r := range fc.prefix {
			if _, err := c.key(press(string(r)), loaded, cfg.Timeout); err != nil {
				return nil, err
			}
		}
		if err := settle(); err != nil {
			return nil, err
		}
		var ds []time.Duration
		n := cfg.Repeat
		if fc.tab == 2 && (fc.last == "z" || fc.prefix == "") {
			n = max(cfg.Repeat/4, 2) // the slow cases: fewer rounds
		}
		for i := range n {
			k := fc.last
			if i%2 == 1 {
				k = "backspace"
			}
			d, err := c.key(press(k), loaded, cfg.Timeout)
			if err != nil {
				return nil, fmt.Errorf("%w; last frame:\n%s", err, c.lastFrame())
			}
			ds = append(ds, d)
		}
		rep.Filters = append(rep.Filters, FilterCase{Tab: tabNames[fc.tab], Prefix: fc.prefix, Last: fc.last, Latency: summarize(ds)})
		// esc clears the filter and reloads the tab's first page.
		escPred := loaded
		if fc.prefix == "" && n%2 == 0 {
			escPred = settled // the filter is empty again: esc reloads nothing
		}
		if _, err := c.key(press("esc"), escPred, cfg.Timeout); err != nil {
			return nil, err
		}
	}
	c.pr.mu.Lock()
	rep.KeyUpdate = summarize(c.pr.keyCost)
	c.pr.mu.Unlock()
	rep.MemEnd = selfMem()

	logf("console: list pages and counts in the Service (load %s)", loadAvg())
	qs := map[string]approvals.RequestQuery{
		"all (request list)": {Scope: approvals.ScopeAll},
		"pending":            {Scope: approvals.ScopePending},
		"needs me":           {Scope: approvals.ScopePending, EligibleFor: cfg.As},
		"history":            {Scope: approvals.ScopeDecided},
	}
	for name, q := range qs {
		var ds []time.Duration
		for range cfg.Repeat {
			t0 := time.Now()
			q.Limit = 50
			if _, err := svc.List(ctx, q); err != nil {
				return nil, err
			}
			ds = append(ds, time.Since(t0))
		}
		rep.Lists[name] = summarize(ds)
	}
	// The History tab's label counts up to 100,000 (ui's historyCountCap);
	// the uncapped count is timed beside it as its baseline.
	qs["history, capped at 100,000 (the label)"] = approvals.RequestQuery{Scope: approvals.ScopeDecided, CountAtMost: 100000}
	for i, name := range []string{"needs me", "pending", "history", "history, capped at 100,000 (the label)"} {
		q := qs[name]
		var ds []time.Duration
		for range min(cfg.Repeat, 10) {
			t0 := time.Now()
			n, err := svc.Count(ctx, q)
			if err != nil {
				return nil, err
			}
			ds = append(ds, time.Since(t0))
			if i < len(rep.Counts) {
				rep.Counts[i] = n
			}
		}
		rep.CountQ[name] = summarize(ds)
	}
	if cfg.Bin != "" {
		rep.ListExec = map[string]Latency{}
		for name, args := range map[string][]string{
			"request list":                  {"request", "list"},
			"request list --status pending": {"request", "list", "--status", "pending"},
		} {
			var ds []time.Duration
			for range min(cfg.Repeat, 10) {
				cmd := exec.CommandContext(ctx, cfg.Bin, append([]string{"--db", cfg.DB}, args...)...)
				cmd.Stdout = io.Discard
				t0 := time.Now()
				if err := cmd.Run(); err != nil {
					return nil, fmt.Errorf("%s %s: %w", cfg.Bin, strings.Join(args, " "), err)
				}
				ds = append(ds, time.Since(t0))
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					rep.ListRSSKiB = max(rep.ListRSSKiB, ru.Maxrss)
				}
			}
			rep.ListExec[name] = summarize(ds)
		}
	}
	return rep, nil
}

func (r *ConsoleReport) table(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPU %s, %d MiB, %s, load %s, %s\n", m.CPUs, m.CPU, m.MemMiB, m.Go, m.LoadAvg, m.When)
	fmt.Fprintf(w, "database: %s (%.0f MiB); console as %s at %s; tabs: needs me %d, pending %d, history %d\n\n",
		r.DB, r.DBMiB, r.Login, r.Size, r.Counts[0], r.Counts[1], r.Counts[2])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tp50 ms\tp99 ms\tmax ms\tn")
	row := func(name string, l Latency) {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%d\n", name, l.P50, l.P99, l.Max, l.N)
	}
	row(fmt.Sprintf("start → first full frame (first: %.1f ms)", r.FirstCold), r.FirstFrame)
	row("cursor move", r.Move)
	row("page down", r.PageDown)
	for _, t := range r.TabOrder {
		row("tab switch → "+t, r.Tab[t])
	}
	for _, f := range r.Filters {
		row(fmt.Sprintf("filter keystroke %s: %q ↔ %q", f.Tab, f.Prefix+f.Last, f.Prefix), f.Latency)
	}
	row("a key's Update+View (program goroutine)", r.KeyUpdate)
	for _, n := range []string{"all (request list)", "pending", "needs me", "history"} {
		row("Service.List first page of 50: "+n, r.Lists[n])
	}
	for _, n := range []string{"needs me", "pending", "history", "history, capped at 100,000 (the label)"} {
		row("Service.Count: "+n, r.CountQ[n])
	}
	for n, l := range r.ListExec {
		row("process: jitdesk "+n, l)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nmemory: RSS %.1f MiB before the console, %.1f MiB after (peak %.1f MiB); heap in use %.1f MiB\n",
		mib(r.MemStart.RSSKiB), mib(r.MemEnd.RSSKiB), mib(r.MemEnd.HWMKiB), float64(r.MemEnd.HeapInuse)/(1<<20))
	if r.ListRSSKiB > 0 {
		fmt.Fprintf(w, "jitdesk request list: max RSS %.1f MiB\n", mib(r.ListRSSKiB))
	}
}
