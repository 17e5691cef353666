package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// hangGuard bounds a wait for an event that should come; it is not a
// performance bound.
const hangGuard = time.Minute

// watch starts a Watcher over paths and returns the channel its reports
// arrive on; the watcher stops when the test ends.
func watch(t *testing.T, paths ...string) <-chan []string {
	t.Helper()
	fw, err := New(paths, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan []string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fw.Run(ctx, func(names []string) { got <- names })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return got
}

func next(t *testing.T, got <-chan []string) []string {
	t.Helper()
	select {
	case names := <-got:
		return names
	case <-time.After(hangGuard):
		t.Fatal("no change was reported")
		return nil
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAFileWrittenInPlaceIsReported(t *testing.T) {
	dir := t.TempDir()
	krl := filepath.Join(dir, "revoked.krl")
	write(t, krl, "serial:1\n")
	got := watch(t, krl)
	write(t, krl, "serial:1\nserial:2\n")
	if names := next(t, got); !slices.Equal(names, []string{krl}) {
		t.Fatalf("reported %v, want %v", names, []string{krl})
	}
}

// ssh-keygen -k -u, editors and certbot write a new file and rename it
// over the old one: the watch on the folder sees that, a watch on the
// old file would not.
func TestAFileReplacedByRenameIsReported(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "tls.crt")
	key := filepath.Join(dir, "tls.key")
	write(t, cert, "old")
	write(t, key, "old")
	got := watch(t, cert, key)
	tmp := filepath.Join(dir, ".tls.crt.new")
	write(t, tmp, "new")
	if err := os.Rename(tmp, cert); err != nil {
		t.Fatal(err)
	}
	if names := next(t, got); !slices.Contains(names, cert) || slices.Contains(names, key) {
		t.Fatalf("reported %v, want %s alone", names, cert)
	}
}

// A watched file that did not exist yet is reported when it appears, so
// serve can be started before the first revocation list is written.
func TestAFileCreatedLaterIsReported(t *testing.T) {
	dir := t.TempDir()
	krl := filepath.Join(dir, "revoked.krl")
	got := watch(t, krl)
	write(t, krl, "serial:9\n")
	if names := next(t, got); !slices.Equal(names, []string{krl}) {
		t.Fatalf("reported %v", names)
	}
}

func TestOnlyWatchedNamesAndContentChangesCount(t *testing.T) {
	dir, other := "/etc/jitdesk", "/srv/secrets"
	fw := &Watcher{names: map[string]bool{
		"/etc/jitdesk/ca.pub": true, "/etc/jitdesk/revoked.krl": true, "/srv/secrets/tls.crt": true,
	}}
	for _, c := range []struct {
		ev   fsnotify.Event
		want []string
	}{
		{fsnotify.Event{Name: dir + "/revoked.krl", Op: fsnotify.Write}, []string{dir + "/revoked.krl"}},
		{fsnotify.Event{Name: dir + "/revoked.krl", Op: fsnotify.Remove}, []string{dir + "/revoked.krl"}},
		{fsnotify.Event{Name: dir + "/./ca.pub", Op: fsnotify.Create}, []string{dir + "/ca.pub"}},
		{fsnotify.Event{Name: dir + "/revoked.krl", Op: fsnotify.Chmod}, nil},
		{fsnotify.Event{Name: dir + "/jitdesk.db-wal", Op: fsnotify.Write}, nil},
		{fsnotify.Event{Name: dir + "/revoked.krl.swp", Op: fsnotify.Write}, nil},
		// Kubernetes swaps the folder a secret's files link through.
		{fsnotify.Event{Name: dir + "/..data", Op: fsnotify.Create}, []string{dir + "/ca.pub", dir + "/revoked.krl"}},
		{fsnotify.Event{Name: other + "/..2026_12_02_01_00_00.123", Op: fsnotify.Remove}, []string{other + "/tls.crt"}},
		{fsnotify.Event{Name: "/elsewhere/..data", Op: fsnotify.Create}, nil},
	} {
		if got := fw.touches(c.ev); !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, want %v", c.ev, got, c.want)
		}
	}
}

func TestAFolderThatCannotBeWatchedIsNamed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder", "revoked.krl")
	_, err := New([]string{"", missing}, DefaultSettle)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("error %v does not name %s", err, missing)
	}
}
