package pgstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change-feed timings. The LISTEN connection is pinged when it has been
// quiet for listenKeepalive, so a connection that died silently (no RST) is
// noticed and replaced; reconnects back off from listenFirstRetry to
// listenMaxRetry while the database is unreachable.
const (
	listenKeepalive  = 30 * time.Second
	listenConnect    = 10 * time.Second
	listenFirstRetry = 50 * time.Millisecond
	listenMaxRetry   = 5 * time.Second
)

// Subscribe returns a channel that receives a value soon after any node
// commits a write to the database (at once for this DB's own writes, on
// PostgreSQL's notification for everyone's), and a function that ends the
// subscription. Values coalesce: the channel holds at most one, standing for
// every write since it was last read. The cancel function never blocks and
// does not close the channel.
//
// The first subscription starts the LISTEN connection and returns once it
// listens (or failed to connect within listenConnect; it then keeps trying
// and its first success counts as a change), so a write committed after
// Subscribe returns is always noticed.
func (db *DB) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.feedMu.Lock()
	defer db.feedMu.Unlock()
	if db.closed {
		return ch, func() {}
	}
	id := db.feedNext
	db.feedNext++
	db.feedSubs[id] = ch
	if db.feedCancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		db.feedCancel, db.feedDone = cancel, make(chan struct{})
		cctx, ccancel := context.WithTimeout(ctx, listenConnect)
		conn, err := db.listen(cctx)
		ccancel()
		if err != nil {
			conn = nil
		}
		go db.runFeed(ctx, conn, db.feedDone)
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			db.feedMu.Lock()
			delete(db.feedSubs, id)
			db.feedMu.Unlock()
		})
	}
}

// listen opens the feed's own connection and LISTENs on it; the caller
// holds feedMu (Subscribe starting the feed).
func (db *DB) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, db.listenCfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("change feed: connect to %s: %w", db.name, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("change feed: listen on %s: %w", db.name, err)
	}
	db.feedPID = conn.PgConn().PID()
	return conn, nil
}

// ListenerPID is the server process id of the change feed's LISTEN
// connection (0 while it is down), for operators matching it in
// pg_stat_activity and for tests that cut it.
func (db *DB) ListenerPID() uint32 {
	db.feedMu.Lock()
	defer db.feedMu.Unlock()
	return db.feedPID
}

func (db *DB) runFeed(ctx context.Context, conn *pgx.Conn, done chan struct{}) {
	defer close(done)
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	retry := listenFirstRetry
	for {
		if ctx.Err() != nil {
			return
		}
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, listenConnect)
			db.feedMu.Lock()
			db.feedPID = 0
			db.feedMu.Unlock()
			c, err := db.relisten(cctx)
			cancel()
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(retry):
				}
				retry = min(2*retry, listenMaxRetry)
				continue
			}
			conn, retry = c, listenFirstRetry
			// Notifications sent while no connection listened are lost:
			// whatever subscribers show may be stale.
			db.notify()
		}
		wctx, cancel := context.WithTimeout(ctx, listenKeepalive)
		_, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			db.notify()
			continue
		case ctx.Err() != nil:
			return
		case timedOut && !conn.IsClosed():
			pctx, pcancel := context.WithTimeout(ctx, listenConnect)
			perr := conn.Ping(pctx)
			pcancel()
			if perr == nil {
				continue
			}
		}
		_ = conn.Close(context.Background())
		conn = nil
	}
}

// relisten is listen for the feed goroutine, which does not hold feedMu:
// it takes it to record the pid.
func (db *DB) relisten(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, db.listenCfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	db.feedMu.Lock()
	db.feedPID = conn.PgConn().PID()
	db.feedMu.Unlock()
	return conn, nil
}

func (db *DB) notify() {
	db.feedMu.Lock()
	defer db.feedMu.Unlock()
	for _, ch := range db.feedSubs {
		select {
		case ch <- struct{}{}:
		default: // a value is already waiting; one stands for many writes
		}
	}
}
