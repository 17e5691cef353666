package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache keeps prepared statements for the SQL a connection pool runs
// again and again, so a decision does not parse the same statements every
// time (parsing was ~40% of an approval's CPU). It fills itself: a
// statement run unprepared inside a transaction is noted, and prepared on
// the pool by a background goroutine, which gets the write pool's one
// connection once the transaction has ended (preparing on it inside the
// transaction would wait for itself; doing it in the committing goroutine
// would make a caller wait for the next writer). Lookups are lock-free (a
// copy-on-write map).
type stmtCache struct {
	pool  *sql.DB
	stmts atomic.Pointer[map[string]*sql.Stmt]

	mu      sync.Mutex
	wanted  map[string]bool
	full    bool
	filling bool
	closed  bool
	wg      sync.WaitGroup
}

// maxCachedStatements bounds the cache: the store's SQL is a fixed set of
// constants, plus IN lists whose length varies (those stop being added
// once the bound is reached, and simply run unprepared).
const maxCachedStatements = 512

func newStmtCache(pool *sql.DB) *stmtCache {
	c := &stmtCache{pool: pool, wanted: map[string]bool{}}
	empty := map[string]*sql.Stmt{}
	c.stmts.Store(&empty)
	return c
}

// get returns the prepared statement for query, or nil (then noting it).
func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if st := (*c.stmts.Load())[query]; st != nil {
		return st
	}
	c.mu.Lock()
	if !c.full && !c.closed {
		c.wanted[query] = true
		if !c.filling {
			c.filling = true
			c.wg.Add(1)
			go c.fill()
		}
	}
	c.mu.Unlock()
	return nil
}

// fill prepares the statements noted so far, until none is left.
func (c *stmtCache) fill() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if len(c.wanted) == 0 || c.closed {
			c.filling = false
			c.mu.Unlock()
			return
		}
		wanted := c.wanted
		c.wanted = map[string]bool{}
		c.mu.Unlock()
		old := *c.stmts.Load()
		next := make(map[string]*sql.Stmt, len(old)+len(wanted))
		for q, st := range old {
			next[q] = st
		}
		for q := range wanted {
			if _, ok := next[q]; ok {
				continue
			}
			if len(next) >= maxCachedStatements {
				c.mu.Lock()
				c.full = true
				c.mu.Unlock()
				break
			}
			st, err := c.pool.PrepareContext(context.Background(), q)
			if err != nil {
				continue // it ran fine unprepared; it will again
			}
			next[q] = st
		}
		c.stmts.Store(&next)
	}
}

// warm prepares queries now, before the pool is in use.
func (c *stmtCache) warm(queries []string) error {
	next := map[string]*sql.Stmt{}
	for _, q := range queries {
		st, err := c.pool.PrepareContext(context.Background(), q)
		if err != nil {
			return err
		}
		next[q] = st
	}
	c.stmts.Store(&next)
	return nil
}

// close closes every prepared statement.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	var first error
	for _, st := range *c.stmts.Load() {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
