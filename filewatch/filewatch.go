// Package filewatch tells serve when one of the files it reads once and
// reloads on SIGHUP (TLS certificate and key, SSH user CA, principal map,
// revocation list) has changed on disk, so a revocation takes effect when
// the list is written rather than when someone remembers the signal.
//
// It watches each file's folder, not the file: editors, ssh-keygen -k -u,
// certbot and Kubernetes secret mounts replace a file by renaming a new
// one over it (or swapping a symlinked folder), which a watch on the old
// inode never sees. Events on other names in those folders are ignored.
// Changes are reported once they have settled, so a file written in
// several pieces is read whole.
package filewatch

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultSettle is how long a watched file must stay unchanged before a
// change is reported.
const DefaultSettle = 250 * time.Millisecond

// Watcher reports changes to a set of files (see Watch).
type Watcher struct {
	w      *fsnotify.Watcher
	names  map[string]bool // cleaned absolute paths of the files watched
	settle time.Duration
}

// New watches the folders of paths (empty paths are skipped). It fails
// when a folder cannot be watched, naming it.
func New(paths []string, settle time.Duration) (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch files: %w", err)
	}
	fw := &Watcher{w: w, names: map[string]bool{}, settle: settle}
	dirs := map[string]bool{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		fw.names[abs] = true
		dir := filepath.Dir(abs)
		if dirs[dir] {
			continue
		}
		if err := w.Add(dir); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("watch the folder of %s: %w", p, err)
		}
		dirs[dir] = true
	}
	return fw, nil
}

// Run calls changed with the names of the watched files that changed,
// each time changes have settled, until ctx ends; then it closes the
// watcher. A watch error (the kernel's event queue overflowed) counts as
// a change of every file, since what changed is no longer known.
func (fw *Watcher) Run(ctx context.Context, changed func(names []string)) {
	defer fw.w.Close()
	settled := time.NewTimer(time.Hour)
	settled.Stop()
	pending := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			if names := fw.touches(ev); len(names) > 0 {
				for _, n := range names {
					pending[n] = true
				}
				settled.Reset(fw.settle)
			}
		case _, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			for n := range fw.names {
				pending[n] = true
			}
			settled.Reset(fw.settle)
		case <-settled.C:
			names := make([]string, 0, len(pending))
			for n := range pending {
				names = append(names, n)
			}
			clear(pending)
			slices.Sort(names)
			changed(names)
		}
	}
}

// touches returns the watched files ev changes. A folder swapped under a
// watched file (Kubernetes mounts a secret's data through a symlinked
// "..data" folder) shows as an event on that folder, not the file: an
// event on a name beginning with ".." in a watched folder counts for every
// watched file in it.
func (fw *Watcher) touches(ev fsnotify.Event) []string {
	if ev.Op == fsnotify.Chmod {
		return nil // permissions or times only: the content is the same
	}
	name := filepath.Clean(ev.Name)
	if fw.names[name] {
		return []string{name}
	}
	if !strings.HasPrefix(filepath.Base(name), "..") {
		return nil
	}
	var out []string
	for n := range fw.names {
		if filepath.Dir(n) == filepath.Dir(name) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
