package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
)

func newWebhookCmd(g *globals) *cobra.Command {
	cmd := newGroup("webhook", "Send signed JSON events to URLs (request created, escalated, decided, expired, grant revoked, break-glass used)")
	cmd.Long = `Webhooks POST a signed JSON event to a URL whenever something happens to a
request. Events are stored in the database in the same transaction as the
change (an outbox) and sent by "jitdesk serve", with retries and backoff;
order is kept per request. Events: ` + strings.Join(approvals.WebhookEvents, ", ") + `.`
	var events []string
	add := &cobra.Command{
		Use:   "add URL [--event E]...",
		Short: "Register a receiver; prints its id and signing secret (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				w, err := svc.AddWebhook(ctx, operator(), args[0], events)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"id": w.ID, "url": w.URL, "events": hookEvents(w), "secret": w.Secret})
				}
				g.say("webhook %s\nurl:     %s\nevents:  %s\nsecret:  %s\n\n", w.ID, w.URL, strings.Join(hookEvents(w), ", "), w.Secret)
				fmt.Fprintln(g.out, "The secret is shown once: give it to the receiver now. POSTs are signed as")
				fmt.Fprintln(g.out, "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature): verify them")
				fmt.Fprintln(g.out, "with a standardwebhooks library, e.g. npm's `new Webhook(secret).verify(body, headers)`.")
				if plainHTTP(w.URL) {
					fmt.Fprintln(g.out, "Warning: http:// sends request details (reasons, requesters) unencrypted; prefer https.")
				}
				fmt.Fprintln(g.out, "Events are sent by `jitdesk serve`.")
				return nil
			})
		},
	}
	add.Flags().StringSliceVar(&events, "event", nil, "event type to send (repeat or comma-separate; default every event): "+strings.Join(approvals.WebhookEvents, ", "))
	list := &cobra.Command{
		Use:   "list",
		Short: "List webhooks (removed ones too); secrets are never shown again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				l := g.newListing("ID", "STATE", "URL", "EVENTS", "CREATED")
				err := eachPage(func(after string, n int) ([]approvals.Webhook, error) { return svc.Webhooks(ctx, after, n) },
					func(w approvals.Webhook) string { return w.ID },
					func(w approvals.Webhook) {
						l.add(webhookJSON(w), w.ID, hookState(w), w.URL, strings.Join(hookEvents(w), ","), ts(w.CreatedAt))
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Stop a webhook: nothing more is sent and its pending deliveries are cancelled (the log is kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				w, err := svc.RemoveWebhook(ctx, operator(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(webhookJSON(w))
				}
				g.say("webhook %s removed\n", w.ID)
				return nil
			})
		},
	}
	var hook string
	var limit int
	var before int64
	logCmd := &cobra.Command{
		Use:   "log [--hook ID] [--limit N] [--before DELIVERY]",
		Short: "Deliveries, newest first: state, attempts, last HTTP status or error, next attempt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 500 {
				return usagef(cmd, "--limit %d: give 1 to 500", limit)
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				if hook != "" {
					if _, err := svc.Webhook(ctx, hook); err != nil {
						return err
					}
				}
				ds, err := svc.WebhookLog(ctx, approvals.WebhookLogQuery{HookID: hook, Before: before, Limit: limit})
				if err != nil {
					return err
				}
				l := g.newListing("DELIVERY", "HOOK", "EVENT", "TYPE", "REQUEST", "STATE", "ATTEMPTS", "LAST", "NEXT/DONE")
				for _, d := range ds {
					l.add(deliveryJSON(d), strconv.FormatInt(d.ID, 10), d.HookID, d.EventID(), d.EventType, d.RequestID, string(d.State),
						strconv.Itoa(d.Attempts), lastOutcome(d), nextOrDone(d))
				}
				if err := l.print(); err != nil {
					return err
				}
				if !g.json && len(ds) == limit {
					g.say("(more: --before %d)\n", ds[len(ds)-1].ID)
				}
				return nil
			})
		},
	}
	logCmd.Flags().StringVar(&hook, "hook", "", "only this webhook's deliveries")
	logCmd.Flags().IntVar(&limit, "limit", 50, "deliveries per page (1-500)")
	logCmd.Flags().Int64Var(&before, "before", 0, "show deliveries older than this delivery number (the next page)")
	test := &cobra.Command{
		Use:   "test ID",
		Short: "Queue a webhook.test event for one webhook (sent by jitdesk serve); check the result with webhook log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				ev, err := svc.TestWebhook(ctx, operator(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"hook": args[0], "event": ev, "type": approvals.EventWebhookTest})
				}
				g.say("queued %s (%s) for webhook %s; see: jitdesk webhook log --hook %s\n", ev, approvals.EventWebhookTest, args[0], args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, remove, logCmd, test)
	return cmd
}

func hookEvents(w approvals.Webhook) []string {
	if len(w.Events) == 0 {
		return []string{"*"}
	}
	return w.Events
}

func hookState(w approvals.Webhook) string {
	if w.Active() {
		return "active"
	}
	return "removed"
}

// plainHTTP reports an http:// URL to a host other than loopback.
func plainHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return false
	}
	ip := net.ParseIP(h)
	return ip == nil || !ip.IsLoopback()
}

func webhookJSON(w approvals.Webhook) map[string]any {
	m := map[string]any{"id": w.ID, "url": w.URL, "events": hookEvents(w), "state": hookState(w),
		"created_at": ts(w.CreatedAt), "created_by": w.CreatedBy}
	if !w.Active() {
		m["removed_at"] = ts(w.DisabledAt)
		m["removed_by"] = w.DisabledBy
	}
	return m
}

func deliveryJSON(d approvals.WebhookDelivery) map[string]any {
	m := map[string]any{"id": d.ID, "hook": d.HookID, "event": d.EventID(), "type": d.EventType, "request": d.RequestID,
		"state": d.State, "attempts": d.Attempts, "created_at": ts(d.CreatedAt)}
	if !d.LastAttemptAt.IsZero() {
		m["last_attempt_at"] = ts(d.LastAttemptAt)
		m["last_status"] = d.LastStatus
		m["last_error"] = d.LastError // hostile text; printJSON escapes what a terminal acts on
	}
	if !d.NextAttemptAt.IsZero() {
		m["next_attempt_at"] = ts(d.NextAttemptAt)
	}
	if !d.DoneAt.IsZero() {
		m["done_at"] = ts(d.DoneAt)
	}
	return m
}

// lastOutcome is the last attempt's HTTP status or error, shortened and
// made inert (receivers' error text is hostile).
func lastOutcome(d approvals.WebhookDelivery) string {
	if d.LastAttemptAt.IsZero() {
		return "-"
	}
	s := d.LastError
	if s == "" {
		s = strconv.Itoa(d.LastStatus)
	}
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return s
}

func nextOrDone(d approvals.WebhookDelivery) string {
	switch {
	case d.State == approvals.DeliveryPending && d.NextAttemptAt.IsZero():
		return "after earlier event"
	case d.State == approvals.DeliveryPending:
		return ts(d.NextAttemptAt)
	case !d.DoneAt.IsZero():
		return ts(d.DoneAt)
	}
	return "-"
}
