package pgstore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

// Both stores side by side in one run: PostgreSQL, and SQLite as the
// baseline. (Skipped without JITDESK_TEST_POSTGRES, like every test here.)
func bothStores(b *testing.B, run func(b *testing.B, open func(b *testing.B) (approvals.Store, func(b *testing.B) approvals.Store))) {
	b.Run("postgres", func(b *testing.B) {
		run(b, func(b *testing.B) (approvals.Store, func(b *testing.B) approvals.Store) {
			dsn := testDSN(b)
			return openDSN(b, dsn), func(b *testing.B) approvals.Store { return openDSN(b, dsn) }
		})
	})
	b.Run("sqlite-baseline", func(b *testing.B) {
		run(b, func(b *testing.B) (approvals.Store, func(b *testing.B) approvals.Store) {
			path := filepath.Join(b.TempDir(), "jitdesk.db")
			db, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db, func(b *testing.B) approvals.Store {
				other, err := store.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { other.Close() })
				return other
			}
		})
	})
}

// BenchmarkApproveConcurrent approves b.N requests from 1, 8 and 32
// goroutines at once and reports approvals a second.
func BenchmarkApproveConcurrent(b *testing.B) {
	bothStores(b, func(b *testing.B, open func(b *testing.B) (approvals.Store, func(b *testing.B) approvals.Store)) {
		for _, workers := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("c%d", workers), func(b *testing.B) {
				db, _ := open(b)
				svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test"})
				setUpService(b, svc)
				ctx := context.Background()
				ids, digests := make([]string, b.N), make([]string, b.N)
				for i := range b.N {
					r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: fmt.Sprint("user", i), Reason: "bench"})
					if err != nil {
						b.Fatal(err)
					}
					d, err := svc.Get(ctx, r.ID)
					if err != nil {
						b.Fatal(err)
					}
					ids[i], digests[i] = r.ID, d.Digest
				}
				next := make(chan int, b.N)
				for i := range b.N {
					next <- i
				}
				close(next)
				b.ResetTimer()
				var wg sync.WaitGroup
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							if _, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: ids[i], Approver: "alice", Digest: digests[i]}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "approvals/s")
			})
		}
	})
}

// BenchmarkChangeFeedAcrossNodes: a write through one handle (one node)
// and the time until another handle's (another node's) subscription
// fires, p50 and p99 over b.N writes. Target p99 ≤ 100 ms.
func BenchmarkChangeFeedAcrossNodes(b *testing.B) {
	bothStores(b, func(b *testing.B, open func(b *testing.B) (approvals.Store, func(b *testing.B) approvals.Store)) {
		a, other := open(b)
		nodeB := other(b)
		svcA := approvals.New(a, approvals.Options{Issuer: "https://jitdesk.test"})
		setUpService(b, svcA)
		ch, stop := nodeB.Subscribe()
		defer stop()
		ctx := context.Background()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			// Drain what earlier writes left, so the wait is for this one.
			for len(ch) > 0 {
				<-ch
			}
			start := time.Now()
			if _, err := svcA.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: fmt.Sprint("feed", i), Reason: "bench"}); err != nil {
				b.Fatal(err)
			}
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				b.Fatalf("write %d was never noticed by the other node", i)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(lat)
		p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(p(0.5), "p50-ms")
		b.ReportMetric(p(0.99), "p99-ms")
	})
}
