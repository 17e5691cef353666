package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// walk pages q forward to the end with After, then back from the last page
// with Before, and checks both walks list the same rows once each.
func walk(t *testing.T, db approvals.Store, q approvals.RequestQuery, cursor func(approvals.Request) approvals.Cursor) []string {
	t.Helper()
	var ids []string
	var pages [][]approvals.Request
	for range 10000 {
		page := list(t, db, q)
		if len(page) == 0 {
			break
		}
		pages = append(pages, page)
		ids = append(ids, idsOf(page)...)
		c := cursor(page[len(page)-1])
		q.After = &c
	}
	if len(pages) == 0 {
		t.Fatal("the walk found no rows")
	}
	var back []string
	c := cursor(pages[len(pages)-1][0])
	q.After, q.Before = nil, &c
	for range 10000 {
		page := list(t, db, q)
		if len(page) == 0 {
			break
		}
		back = append(append([]string{}, idsOf(page)...), back...)
		c := cursor(page[0])
		q.Before = &c
	}
	back = append(back, idsOf(pages[len(pages)-1])...)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	if strings.Join(back, ",") != strings.Join(ids, ",") {
		t.Fatalf("backward walk differs from forward walk:\n%v\n%v", back, ids)
	}
	return ids
}

func (s *suite) keysetPages(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	seedRequests(t, db, 300)
	created := func(r approvals.Request) approvals.Cursor { return approvals.Cursor{At: r.CreatedAt, ID: r.ID} }
	decided := func(r approvals.Request) approvals.Cursor { return approvals.Cursor{At: r.DecidedAt, ID: r.ID} }
	pending := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 17}, created)
	all := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Limit: 23}, created)
	hist := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 9}, decided)
	var rows []approvals.Request
	for i := range 300 {
		rows = append(rows, seededRequest(i))
	}
	expect := func(keep func(approvals.Request) bool, key func(approvals.Request) time.Time, desc bool) []string {
		var sel []approvals.Request
		for _, r := range rows {
			if keep(r) {
				sel = append(sel, r)
			}
		}
		slices.SortFunc(sel, func(a, b approvals.Request) int {
			c := key(a).Compare(key(b))
			if c == 0 {
				c = strings.Compare(a.ID, b.ID)
			}
			if desc {
				c = -c
			}
			return c
		})
		return idsOf(sel)
	}
	isPending := func(r approvals.Request) bool { return r.Status == approvals.StatusPending }
	createdAt := func(r approvals.Request) time.Time { return r.CreatedAt }
	for name, c := range map[string]struct{ got, want []string }{
		"pending": {pending, expect(isPending, createdAt, false)},
		"all":     {all, expect(func(approvals.Request) bool { return true }, createdAt, true)},
		"decided": {hist, expect(func(r approvals.Request) bool { return !isPending(r) }, func(r approvals.Request) time.Time { return r.DecidedAt }, true)},
	} {
		if len(c.want) < 50 || !slices.Equal(c.got, c.want) {
			t.Errorf("%s: walked %d rows, want %d in order\n got %v\nwant %v", name, len(c.got), len(c.want), c.got, c.want)
		}
	}
	// Limit: 0 means 50, more than 500 means 500.
	if n := len(list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll})); n != 50 {
		t.Errorf("default page size %d, want 50", n)
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopePending}); n != len(pending) {
		t.Errorf("pending count %d, walked %d", n, len(pending))
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided}); n != len(hist) {
		t.Errorf("decided count %d, walked %d", n, len(hist))
	}
}

func (s *suite) needsMe(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	seedRequests(t, db, 60)
	update(t, db, func(tx approvals.Tx) error { // alice reviewed R00001
		return tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionApprove, At: base})
	})
	rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", Limit: 500})
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice"}); n != len(rs) {
		t.Errorf("count %d != listed %d", n, len(rs))
	}
	want := 0
	for i := range 60 {
		r := seededRequest(i)
		if r.Status == approvals.StatusPending && r.TemplateKey == "k8s" && r.Requester != "alice" && r.ID != "R00001" {
			want++
		}
	}
	if len(rs) != want || want == 0 {
		t.Errorf("alice needs %d requests, want %d", len(rs), want)
	}
	for _, r := range rs {
		if r.TemplateKey != "k8s" || r.Requester == "alice" || r.ID == "R00001" || r.Status != approvals.StatusPending {
			t.Errorf("alice must not see %+v", r)
		}
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol"}); len(rs) != 0 {
		t.Errorf("carol is on no template, sees %d", len(rs))
	}
	rs = list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "bob", Limit: 500})
	if len(rs) == 0 {
		t.Error("bob, named on template db, sees nothing")
	}
	for _, r := range rs {
		if r.TemplateKey != "db" || r.Status != approvals.StatusPending {
			t.Errorf("bob sees %s %s", r.TemplateKey, r.Status)
		}
	}
	// Outside the pending scope "needs me" still means pending only.
	for _, r := range list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, EligibleFor: "bob", Limit: 500}) {
		if r.Status != approvals.StatusPending {
			t.Errorf("needs-me over all lists a %s request", r.Status)
		}
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided, EligibleFor: "bob"}); len(rs) != 0 {
		t.Errorf("needs-me over decided lists %d", len(rs))
	}
	// SelfIdentities: requests whose requester is the approver under the
	// identity profile are left out.
	for _, r := range list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", SelfIdentities: []string{approvals.IdentityOf("user3")}, Limit: 500}) {
		if r.Requester == "user3" {
			t.Errorf("needs-me lists a request of one of the approver's own identities: %+v", r)
		}
	}
}

func (s *suite) needsMeOnCall(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Members: []string{"carol"}, Shift: time.Hour, Start: base}); err != nil {
			return err
		}
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Shift: time.Hour}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate rotation: %v", err)
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "pager", AppID: "app1", Title: "Pager", Type: approvals.TypeApprove, Quorum: 1, OnCall: []string{"ops"}}); err != nil {
			return err
		}
		if err := tx.InsertRequest(Req(1, "pager", "m", approvals.StatusPending)); err != nil {
			return err
		}
		return tx.InsertRequest(Req(2, "k8s", "m", approvals.StatusPending))
	})
	view(t, db, func(tx approvals.ReadTx) error {
		tm, _ := tx.Template("pager")
		if !slices.Equal(tm.OnCall, []string{"ops"}) {
			t.Errorf("template on-call rotations: %v", tm.OnCall)
		}
		keys, err := tx.TemplatesUsingRotation("ops")
		if err != nil || !slices.Equal(keys, []string{"pager"}) {
			t.Errorf("templates using ops: %v %v", keys, err)
		}
		return nil
	})
	if got := strings.Join(idsOf(list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol", OnCall: []string{"ops"}})), ","); got != "R00001" {
		t.Errorf("carol on call for ops sees %q", got)
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol"}); len(rs) != 0 {
		t.Errorf("carol off call sees %d", len(rs))
	}
}

func (s *suite) needsMeEscalation(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Members: []string{"alice", "carol"}, Shift: time.Hour, Start: base}); err != nil {
			return err
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "esc", AppID: "app1", Title: "Esc", Type: approvals.TypeApprove, Quorum: 1, OnCall: []string{"ops"},
			EscalateAfter: 10 * time.Minute, EscalateCap: 3, EscalateGroup: "dba"}); err != nil {
			return err
		}
		for i := 1; i <= 3; i++ {
			if err := tx.InsertRequest(Req(i, "esc", "m", approvals.StatusPending)); err != nil {
				return err
			}
		}
		if ok, err := tx.SetEscalation("R00002", 0, 1); !ok || err != nil {
			return fmt.Errorf("escalate R00002: %v %v", ok, err)
		}
		if ok, err := tx.SetEscalation("R00003", 0, 2); !ok || err != nil {
			return fmt.Errorf("escalate R00003: %v %v", ok, err)
		}
		return nil
	})
	ids := func(q approvals.RequestQuery) string {
		q.Scope = approvals.ScopePending
		return strings.Join(idsOf(list(t, db, q)), ",")
	}
	// carol is one hand-over away: requests escalated at least once reach her.
	if got := ids(approvals.RequestQuery{EligibleFor: "carol", Reach: []approvals.RotationReach{{Rotation: "ops", Level: 1}}}); got != "R00002,R00003" {
		t.Errorf("carol one hand-over away sees %q", got)
	}
	if got := ids(approvals.RequestQuery{EligibleFor: "carol", Reach: []approvals.RotationReach{{Rotation: "ops", Level: 2}}}); got != "R00003" {
		t.Errorf("carol two hand-overs away sees %q", got)
	}
	// bob's group dba is the escalation group: from the first step.
	if got := ids(approvals.RequestQuery{EligibleFor: "bob", EscalationGroups: []string{"dba"}}); got != "R00002,R00003" {
		t.Errorf("bob through the escalation group sees %q", got)
	}
	if got := ids(approvals.RequestQuery{EligibleFor: "bob"}); got != "" {
		t.Errorf("bob without reach sees %q", got)
	}
}

func (s *suite) viewerVisibility(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Members: []string{"carol"}, Shift: time.Hour, Start: base}); err != nil {
			return err
		}
		return tx.InsertTemplate(approvals.Template{Key: "pager", AppID: "app1", Title: "Pager", Type: approvals.TypeApprove, Quorum: 1, OnCall: []string{"ops"}})
	})
	InsertRequests(t, db, []approvals.Request{
		Req(1, "k8s", "mallory", approvals.StatusPending),
		Req(2, "db", "mallory", approvals.StatusApproved),
		Req(3, "pager", "mallory", approvals.StatusPending),
		Req(4, "db", "carol", approvals.StatusPending),
		Req(5, "db", "Dave", approvals.StatusPending),
	})
	ids := func(q approvals.RequestQuery) string {
		q.Scope, q.Limit = approvals.ScopeAll, 500
		rs := list(t, db, q)
		slices.SortFunc(rs, func(a, b approvals.Request) int { return strings.Compare(a.ID, b.ID) })
		return strings.Join(idsOf(rs), ",")
	}
	for name, c := range map[string]struct {
		q    approvals.RequestQuery
		want string
	}{
		"alice through group sre":            {approvals.RequestQuery{Viewer: "alice"}, "R00001"},
		"bob named on db":                    {approvals.RequestQuery{Viewer: "bob"}, "R00002,R00004,R00005"},
		"carol in rotation ops, and her own": {approvals.RequestQuery{Viewer: "carol"}, "R00003,R00004"},
		"an own identity":                    {approvals.RequestQuery{Viewer: "alice", SelfIdentities: []string{approvals.IdentityOf("Dave")}}, "R00001,R00005"},
		"an auditor sees all":                {approvals.RequestQuery{Viewer: "alice", AllVisible: true}, "R00001,R00002,R00003,R00004,R00005"},
		"nobody in particular sees nothing":  {approvals.RequestQuery{Viewer: "zed"}, ""},
	} {
		if got := ids(c.q); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
		if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Viewer: c.q.Viewer, SelfIdentities: c.q.SelfIdentities, AllVisible: c.q.AllVisible}); n != len(strings.Split(c.want, ",")) && c.want != "" {
			t.Errorf("%s: count %d", name, n)
		}
	}
}

func (s *suite) requesterFilter(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	seedRequests(t, db, 100)
	rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Requester: "alice", Limit: 500})
	want := 0
	for i := range 100 {
		if seededRequest(i).Requester == "alice" {
			want++
		}
	}
	if len(rs) != want {
		t.Errorf("alice's requests: %d, want %d", len(rs), want)
	}
	for _, r := range rs {
		if r.Requester != "alice" {
			t.Errorf("requester filter lists %s's request", r.Requester)
		}
	}
}

func (s *suite) filterLiteral(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	r1 := Req(1, "k8s", "a_b", approvals.StatusPending)
	r2 := Req(2, "k8s", "axb", approvals.StatusPending)
	r3 := Req(3, "k8s", "zed", approvals.StatusPending)
	r3.Reason = "100% needed"
	InsertRequests(t, db, []approvals.Request{r1, r2, r3})
	for filter, want := range map[string]string{"a_b": "R00001", "0%": "R00003", "AXB": "R00002", "prod db": "", `\`: "", "%": "R00003", "_": "R00001", "  zed ": "R00003"} {
		if got := strings.Join(idsOf(list(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, Filter: filter})), ","); got != want {
			t.Errorf("filter %q: got %q want %q", filter, got, want)
		}
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "K8s EXEC"}); len(rs) != 3 {
		t.Errorf("filter by template title: %d", len(rs))
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "k8S"}); len(rs) != 3 {
		t.Errorf("filter by template key: %d", len(rs))
	}
}

func (s *suite) selectiveFilter(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	var reqs []approvals.Request
	for i := range 400 {
		r := Req(i, "k8s", fmt.Sprint("user", i%9), approvals.StatusPending)
		if i%40 == 7 {
			r.Reason = fmt.Sprintf("rotate the Needle-%d cert", i)
		}
		reqs = append(reqs, r)
	}
	InsertRequests(t, db, reqs)
	var got []string
	q := approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "NEEDLE", Limit: 3}
	for range 100 {
		page := list(t, db, q)
		if len(page) == 0 {
			break
		}
		got = append(got, idsOf(page)...)
		last := page[len(page)-1]
		q.After = &approvals.Cursor{At: last.CreatedAt, ID: last.ID}
	}
	if len(got) != 10 || got[0] != "R00007" || got[9] != "R00367" {
		t.Fatalf("paged matches %v", got)
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "needle"}); n != 10 {
		t.Fatalf("count %d", n)
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "no such text"}); len(rs) != 0 {
		t.Fatalf("a filter matching nothing returned %d", len(rs))
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "K8s exec", Limit: 500}); len(rs) != 400 {
		t.Fatalf("a template title filter must match all its requests, got %d", len(rs))
	}
	if rs := list(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "user8", Limit: 500}); len(rs) != 44 {
		t.Fatalf("a requester filter matched %d, want 44", len(rs))
	}
}

// Outside the pending scope a one- or two-character filter searches only
// the newest ShortFilterWindow requests of the scope; three characters
// search all; the pending scope is always searched whole.
func (s *suite) shortFilterWindow(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	n := approvals.ShortFilterWindow + 50
	reqs := make([]approvals.Request, 0, n+1)
	for i := range n {
		who := fmt.Sprintf("user%d", i%7)
		switch i {
		case 0: // decided last, created first
			who = "qx-a"
		case n - 1: // decided first, created last
			who = "qx-b"
		}
		reqs = append(reqs, Req(i, "k8s", who, approvals.StatusApproved))
	}
	old := Req(n, "k8s", "qx-pending", approvals.StatusPending)
	old.CreatedAt = base.Add(-24 * time.Hour)
	reqs = append(reqs, old)
	InsertRequests(t, db, reqs)
	requesters := func(scope approvals.Scope, filter string) string {
		var got []string
		for _, r := range list(t, db, approvals.RequestQuery{Scope: scope, Filter: filter, Limit: 50}) {
			got = append(got, r.Requester)
		}
		return fmt.Sprint(got)
	}
	for _, c := range []struct {
		scope  approvals.Scope
		filter string
		want   string
	}{
		{approvals.ScopeDecided, "qx", "[qx-a]"},
		{approvals.ScopeDecided, "qx-", "[qx-a qx-b]"},
		{approvals.ScopeAll, "qx", "[qx-b]"},
		{approvals.ScopeAll, "qx-", "[qx-b qx-a qx-pending]"},
		{approvals.ScopePending, "qx", "[qx-pending]"},
	} {
		if got := requesters(c.scope, c.filter); got != c.want {
			t.Errorf("scope %v filter %q: %s, want %s", c.scope, c.filter, got, c.want)
		}
	}
}

func (s *suite) countAtMost(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	seedRequests(t, db, 300)
	all := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided})
	if all < 50 {
		t.Fatalf("seed gave %d decided requests; the test needs more than 50", all)
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided, CountAtMost: 50}); n != 50 {
		t.Errorf("capped at 50: %d", n)
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided, CountAtMost: all + 1}); n != all {
		t.Errorf("cap above the count: %d, want %d", n, all)
	}
	filtered := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "alice"})
	if filtered < 5 {
		t.Fatalf("filtered count %d; the test needs more than 5", filtered)
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "alice", CountAtMost: 5}); n != 5 {
		t.Errorf("filtered, capped at 5: %d (uncapped %d)", n, filtered)
	}
	if n := count(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "alice", CountAtMost: 100000}); n != filtered {
		t.Errorf("filtered, cap above: %d, want %d", n, filtered)
	}
}

func (s *suite) duePending(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	mk := func(id string, expires time.Duration, status approvals.Status) approvals.Request {
		r := Req(0, "k8s", "m", status)
		r.ID, r.ExpiresAt = id, base.Add(expires)
		return r
	}
	InsertRequests(t, db, []approvals.Request{
		mk("late", -time.Minute, approvals.StatusPending),
		mk("later", -time.Hour, approvals.StatusPending),
		mk("now", 0, approvals.StatusPending),
		mk("future", time.Minute, approvals.StatusPending),
		mk("decided", -time.Hour, approvals.StatusApproved),
	})
	var got []string
	view(t, db, func(tx approvals.ReadTx) error {
		rs, err := tx.DuePending(base, 10)
		got = idsOf(rs)
		return err
	})
	if fmt.Sprint(got) != "[later late now]" {
		t.Errorf("due pending %v, want [later late now]", got)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		rs, err := tx.DuePending(base, 1)
		if err != nil || len(rs) != 1 || rs[0].ID != "later" {
			t.Errorf("due pending, limit 1: %v %v", idsOf(rs), err)
		}
		return nil
	})
}

// seedEscalation adds an "esc" template that escalates every 10 minutes up
// to 3 steps and inserts reqs, raising each to its Escalation level.
func seedEscalation(t *testing.T, db approvals.Store, reqs []approvals.Request) {
	t.Helper()
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		return tx.InsertTemplate(approvals.Template{Key: "esc", AppID: "app1", Name: "Esc", Title: "Escalating", Type: approvals.TypeApprove,
			Approvers: []string{"bob"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: 24 * time.Hour,
			EscalateAfter: 10 * time.Minute, EscalateCap: 3})
	})
	levels := map[string]int{}
	for i := range reqs {
		levels[reqs[i].ID] = reqs[i].Escalation
		reqs[i].Escalation = 0
	}
	InsertRequests(t, db, reqs)
	update(t, db, func(tx approvals.Tx) error {
		for _, r := range reqs {
			if l := levels[r.ID]; l > 0 && r.Status == approvals.StatusPending {
				if ok, err := tx.SetEscalation(r.ID, 0, l); err != nil || !ok {
					return fmt.Errorf("raise %s to %d: ok=%v %v", r.ID, l, ok, err)
				}
			}
		}
		return nil
	})
}

func escReq(id, tmpl string, age time.Duration, level int, status approvals.Status, now time.Time) approvals.Request {
	r := approvals.Request{ID: id, TemplateKey: tmpl, AppID: "app1", Requester: "alice", Reason: "r", Metadata: map[string]string{"ns": "x"},
		TTL: time.Hour, CreatedAt: now.Add(-age), ExpiresAt: now.Add(24 * time.Hour), Status: status, Escalation: level}
	if status != approvals.StatusPending {
		r.DecidedAt, r.DecidedBy = now, "bob"
	}
	return r
}

func (s *suite) dueEscalations(t *testing.T) {
	db := s.open(t)
	now := base.Add(48 * time.Hour)
	seedEscalation(t, db, []approvals.Request{
		escReq("E-young", "esc", 9*time.Minute, 0, approvals.StatusPending, now),
		escReq("E-due0", "esc", 11*time.Minute, 0, approvals.StatusPending, now),
		escReq("E-done1", "esc", 15*time.Minute, 1, approvals.StatusPending, now),
		escReq("E-due1", "esc", 25*time.Minute, 1, approvals.StatusPending, now),
		escReq("E-cap", "esc", 5*time.Hour, 3, approvals.StatusPending, now),
		escReq("E-decided", "esc", 5*time.Hour, 0, approvals.StatusApproved, now),
		escReq("K-old", "k8s", 5*time.Hour, 0, approvals.StatusPending, now),
	})
	var got []string
	view(t, db, func(tx approvals.ReadTx) error {
		rs, err := tx.DueEscalations(now, 100)
		got = idsOf(rs)
		return err
	})
	if fmt.Sprint(got) != "[E-due1 E-due0]" {
		t.Fatalf("due escalations = %v, want [E-due1 E-due0]", got)
	}
}

func (s *suite) setEscalation(t *testing.T) {
	db := s.open(t)
	now := base.Add(48 * time.Hour)
	seedEscalation(t, db, []approvals.Request{
		escReq("E1", "esc", time.Hour, 0, approvals.StatusPending, now),
		escReq("E2", "esc", time.Hour, 0, approvals.StatusApproved, now),
	})
	update(t, db, func(tx approvals.Tx) error {
		if ok, err := tx.SetEscalation("E1", 0, 1); !ok || err != nil {
			t.Errorf("first step: %v %v", ok, err)
		}
		if ok, err := tx.SetEscalation("E1", 0, 1); ok || err != nil {
			t.Errorf("a second sweeper's same step must lose: %v %v", ok, err)
		}
		if ok, err := tx.SetEscalation("E2", 0, 1); ok || err != nil {
			t.Errorf("a decided request must not escalate: %v %v", ok, err)
		}
		if ok, err := tx.SetEscalation("nope", 0, 1); ok || err != nil {
			t.Errorf("an unknown request: %v %v", ok, err)
		}
		r, _ := tx.Request("E1")
		if r.Escalation != 1 {
			t.Errorf("escalation %d, want 1", r.Escalation)
		}
		return nil
	})
}

func (s *suite) escalatingRequests(t *testing.T) {
	db := s.open(t)
	now := base.Add(48 * time.Hour)
	seedEscalation(t, db, []approvals.Request{
		escReq("E-a", "esc", 50*time.Minute, 2, approvals.StatusPending, now),
		escReq("E-b", "esc", 40*time.Minute, 1, approvals.StatusPending, now),
		escReq("E-c", "esc", 30*time.Minute, 0, approvals.StatusPending, now),
		escReq("E-d", "esc", 20*time.Minute, 1, approvals.StatusPending, now),
		escReq("E-x", "esc", 60*time.Minute, 0, approvals.StatusApproved, now),
		escReq("K-1", "k8s", 60*time.Minute, 0, approvals.StatusPending, now),
	})
	page := func(minLevel int, after *approvals.Cursor, limit int) []string {
		var got []string
		view(t, db, func(tx approvals.ReadTx) error {
			rs, err := tx.EscalatingRequests(minLevel, after, limit)
			got = idsOf(rs)
			return err
		})
		return got
	}
	if got := fmt.Sprint(page(0, nil, 10)); got != "[E-a E-b E-c E-d]" {
		t.Errorf("level ≥ 0: %s", got)
	}
	if got := fmt.Sprint(page(1, nil, 2)); got != "[E-a E-b]" {
		t.Errorf("level ≥ 1, first page: %s", got)
	}
	after := &approvals.Cursor{At: now.Add(-40 * time.Minute), ID: "E-b"}
	if got := fmt.Sprint(page(1, after, 2)); got != "[E-d]" {
		t.Errorf("level ≥ 1, second page: %s", got)
	}
}
