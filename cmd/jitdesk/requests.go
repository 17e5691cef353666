package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
	"github.com/jitdesk/jitdesk/store"
)

func newRequestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "request", Short: "Create, list and show access requests"}
	var tmpl, requester, reason, ttl string
	var meta []string
	create := &cobra.Command{
		Use:   "create --template KEY --requester USER --reason TEXT [--ttl D] [--meta K=V]...",
		Short: "Submit a request on an application's behalf (prints the request id)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tmpl == "" || requester == "" {
				return usagef(cmd, "--template and --requester are required")
			}
			in := approvals.NewRequest{TemplateKey: tmpl, Requester: requester, Reason: reason, Metadata: map[string]string{}}
			if ttl != "" {
				d, err := approvals.ParseDuration(ttl)
				if err != nil {
					return usagef(cmd, "--ttl: %v", err)
				}
				in.TTL = d
			}
			for _, kv := range meta {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef(cmd, "--meta %q: use KEY=VALUE", kv)
				}
				in.Metadata[k] = v
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				r, err := svc.Submit(ctx, in)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(requestJSON(r))
				}
				fmt.Fprintln(g.out, r.ID)
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&tmpl, "template", "", "template key (required)")
	f.StringVar(&requester, "requester", "", "the user who needs access (required)")
	f.StringVar(&reason, "reason", "", "why access is needed")
	f.StringVar(&ttl, "ttl", "", "grant lifetime asked for (default: the template's)")
	f.StringArrayVar(&meta, "meta", nil, "metadata KEY=VALUE (repeatable)")

	var status string
	var limit int
	list := &cobra.Command{
		Use:   "list [--status S] [--limit N]",
		Short: "List requests, newest first (pending: oldest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := approvals.RequestQuery{Scope: approvals.ScopeAll, Limit: limit}
			var want approvals.Status
			if status != "" {
				s, err := approvals.ParseStatus(status)
				if err != nil {
					return usagef(cmd, "--status: %v", err)
				}
				want = s
				q.Scope = approvals.ScopeDecided
				if s == approvals.StatusPending {
					q.Scope = approvals.ScopePending
				}
			}
			if limit < 1 || limit > 500 {
				return usagef(cmd, "--limit %d must be between 1 and 500", limit)
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				rows, err := listFiltered(ctx, svc, q, want, limit)
				if err != nil {
					return err
				}
				if g.json {
					out := make([]map[string]any, 0, len(rows))
					for _, r := range rows {
						out = append(out, requestJSON(r))
					}
					return g.printJSON(out)
				}
				tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATUS\tREQUESTER\tTEMPLATE\tTTL\tCREATED")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, printable(r.Requester), r.TemplateKey, approvals.FormatDuration(r.TTL), r.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "pending | approved | denied | expired | cancelled")
	list.Flags().IntVar(&limit, "limit", 50, "at most N rows")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a request with its reviews and grant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				d, err := svc.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(detailJSON(d))
				}
				printDetail(g.out, d)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, show)
	return cmd
}

// listFiltered pages through a scope keeping only one status (the decided
// scope mixes approved, denied, expired and cancelled), up to limit rows.
func listFiltered(ctx context.Context, svc *approvals.Service, q approvals.RequestQuery, want approvals.Status, limit int) ([]approvals.Request, error) {
	var out []approvals.Request
	for {
		page, err := svc.List(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			if want == "" || r.Status == want {
				out = append(out, r)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(page) < q.Limit || want == "" {
			return out, nil
		}
		last := page[len(page)-1]
		at := last.CreatedAt
		if q.Scope == approvals.ScopeDecided {
			at = last.DecidedAt
		}
		q.After = &approvals.Cursor{At: at, ID: last.ID}
	}
}

func requestJSON(r approvals.Request) map[string]any {
	m := map[string]any{
		"id": r.ID, "status": r.Status, "template": r.TemplateKey, "application": r.AppID, "requester": r.Requester,
		"reason": r.Reason, "metadata": r.Metadata, "ttl": r.TTL.String(), "approvals": r.Approvals,
		"created_at": r.CreatedAt.Format(time.RFC3339Nano), "expires_at": r.ExpiresAt.Format(time.RFC3339Nano),
	}
	if !r.DecidedAt.IsZero() {
		m["decided_at"] = r.DecidedAt.Format(time.RFC3339Nano)
		m["decided_by"] = r.DecidedBy
	}
	return m
}

func detailJSON(d approvals.Detail) map[string]any {
	m := requestJSON(d.Request)
	m["digest"] = d.Digest
	m["template_title"] = d.Template.Title
	m["template_type"] = d.Template.Type
	m["quorum"] = d.Template.Quorum
	reviews := []map[string]any{}
	for _, r := range d.Reviews {
		reviews = append(reviews, map[string]any{"approver": r.Approver, "decision": r.Decision, "comment": r.Comment, "signature_digest": r.SignatureDigest, "at": r.At.Format(time.RFC3339Nano)})
	}
	m["reviews"] = reviews
	if d.Grant != nil {
		m["grant"] = grantJSON(*d.Grant, false)
	}
	return m
}

func grantJSON(gr approvals.Grant, withToken bool) map[string]any {
	m := map[string]any{
		"id": gr.ID, "request": gr.RequestID, "subject": gr.Subject, "audience": gr.Audience, "scope": gr.Scope, "kid": gr.Kid,
		"issued_at": gr.IssuedAt.Format(time.RFC3339Nano), "expires_at": gr.ExpiresAt.Format(time.RFC3339Nano),
	}
	if gr.Revoked() {
		m["revoked_at"] = gr.RevokedAt.Format(time.RFC3339Nano)
		m["revoked_by"] = gr.RevokedBy
		m["revoke_reason"] = gr.RevokeReason
	}
	if gr.BreakGlass {
		m["break_glass"] = true
		if !gr.ReviewedAt.IsZero() {
			m["reviewed_at"] = gr.ReviewedAt.Format(time.RFC3339Nano)
			m["reviewed_by"] = gr.ReviewedBy
			m["review_comment"] = gr.ReviewComment
		}
	}
	if withToken {
		m["token"] = gr.Token
	}
	return m
}

// printable shows control characters of request data as escapes, so a
// hostile request cannot drive the operator's terminal through the CLI either.
func printable(s string) string {
	q := fmt.Sprintf("%+q", s)
	q = q[1 : len(q)-1]
	return strings.ReplaceAll(q, `\"`, `"`)
}

func printDetail(w io.Writer, d approvals.Detail) {
	r := d.Request
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "request\t%s\n", r.ID)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	if !r.DecidedAt.IsZero() {
		fmt.Fprintf(tw, "decided\tby %s at %s\n", r.DecidedBy, r.DecidedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "requester\t%s\n", printable(r.Requester))
	fmt.Fprintf(tw, "application\t%s (%s)\n", printable(d.Application.Name), r.AppID)
	fmt.Fprintf(tw, "template\t%s — %s (%s, quorum %d)\n", d.Template.Key, printable(d.Template.Title), d.Template.Type.Label(), d.Template.Quorum)
	fmt.Fprintf(tw, "reason\t%s\n", printable(r.Reason))
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "meta %s\t%s\n", printable(k), printable(r.Metadata[k]))
	}
	fmt.Fprintf(tw, "ttl\t%s\n", approvals.FormatDuration(r.TTL))
	fmt.Fprintf(tw, "created\t%s\n", r.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "expires\t%s\n", r.ExpiresAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "digest\t%s\n", d.Digest)
	for _, rv := range d.Reviews {
		fmt.Fprintf(tw, "review\t%s %sd at %s %s\n", rv.Approver, rv.Decision, rv.At.Format(time.RFC3339), printable(rv.Comment))
	}
	if d.Grant != nil {
		fmt.Fprintf(tw, "grant\t%s, expires %s, kid %s\n", d.Grant.ID, d.Grant.ExpiresAt.Format(time.RFC3339), d.Grant.Kid)
		if d.Grant.Revoked() {
			fmt.Fprintf(tw, "revoked\tby %s at %s: %s\n", d.Grant.RevokedBy, d.Grant.RevokedAt.Format(time.RFC3339), printable(d.Grant.RevokeReason))
		}
	}
	tw.Flush()
}

func newApproveCmd(g *globals) *cobra.Command {
	var as, comment, typed, ttl, digest string
	var breakGlass bool
	cmd := &cobra.Command{
		Use:   "approve ID --as LOGIN [--comment C] [--sign-typed \"Full Name\"] [--ttl D] [--break-glass]",
		Short: "Approve a request; prints the access token when the quorum is reached",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return usagef(cmd, "--as LOGIN is required: the approver deciding")
			}
			if breakGlass && (typed == "" || strings.TrimSpace(comment) == "") {
				return usagef(cmd, "--break-glass needs --sign-typed \"Your Name\" and --comment saying why it cannot wait")
			}
			in := approvals.ApproveInput{RequestID: args[0], Approver: as, Comment: comment, BreakGlass: breakGlass}
			if ttl != "" {
				d, err := approvals.ParseDuration(ttl)
				if err != nil {
					return usagef(cmd, "--ttl: %v", err)
				}
				in.TTL = d
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				d, err := svc.Get(ctx, args[0])
				if err != nil {
					return err
				}
				// The CLI approves what it just loaded unless the caller pins
				// the digest it reviewed (e.g. from `request show --json`).
				in.Digest = d.Digest
				if digest != "" {
					in.Digest = digest
				}
				if typed != "" {
					a, err := svc.Approver(ctx, as)
					if err != nil {
						return err
					}
					grantTTL := d.Request.TTL
					if breakGlass && d.Template.BreakGlassMaxTTL > 0 {
						grantTTL = min(grantTTL, d.Template.BreakGlassMaxTTL)
					}
					if in.TTL != 0 {
						grantTTL = in.TTL
					}
					sig := signature.TypedSignature(as, a.Name, typed, approvals.Meaning(d.Request, d.Template, grantTTL), svc.Now(), in.Digest)
					in.Signature = &sig
				}
				out, err := svc.Approve(ctx, in)
				if err != nil {
					return err
				}
				if out.Grant == nil {
					if g.json {
						return g.printJSON(map[string]any{"request": out.Request.ID, "status": out.Request.Status, "remaining": out.Remaining})
					}
					fmt.Fprintf(os.Stderr, "approved by %s; %d more approval(s) needed\n", as, out.Remaining)
					return nil
				}
				if g.json {
					return g.printJSON(map[string]any{"request": out.Request.ID, "status": out.Request.Status, "token": out.Token, "grant": out.Grant.ID, "expires_at": out.Grant.ExpiresAt.Format(time.RFC3339Nano)})
				}
				fmt.Fprintln(g.out, out.Token)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&as, "as", "", "approver login (required)")
	f.StringVar(&comment, "comment", "", "comment recorded with the approval")
	f.StringVar(&typed, "sign-typed", "", "sign by typing your full name (needed for Sign and Approve templates)")
	f.StringVar(&ttl, "ttl", "", "grant less time than asked (never more)")
	f.StringVar(&digest, "digest", "", "refuse unless the request still has this digest (from `request show --json`)")
	f.BoolVar(&breakGlass, "break-glass", false, "emergency: approve your own request (template must allow it; needs --sign-typed and --comment; reviewed afterwards)")
	return cmd
}

func newDenyCmd(g *globals) *cobra.Command {
	var as, comment, digest string
	cmd := &cobra.Command{
		Use:   "deny ID --as LOGIN --comment C",
		Short: "Deny a request (ends it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" || strings.TrimSpace(comment) == "" {
				return usagef(cmd, "--as LOGIN and --comment C are required: say why, the requester will read it")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				d, err := svc.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if digest == "" {
					digest = d.Digest
				}
				r, err := svc.Deny(ctx, approvals.DenyInput{RequestID: args[0], Approver: as, Digest: digest, Comment: comment})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(requestJSON(r))
				}
				fmt.Fprintf(g.out, "request %s denied by %s\n", r.ID, as)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "approver login (required)")
	cmd.Flags().StringVar(&comment, "comment", "", "why (required)")
	cmd.Flags().StringVar(&digest, "digest", "", "refuse unless the request still has this digest")
	return cmd
}

func newRevokeCmd(g *globals) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   "revoke ID --as LOGIN --reason R",
		Short: "Revoke a grant (by grant id or request id)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" || strings.TrimSpace(reason) == "" {
				return usagef(cmd, "--as LOGIN and --reason R are required")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				gr, err := svc.Revoke(ctx, approvals.RevokeInput{ID: args[0], Approver: as, Reason: reason})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(grantJSON(gr, false))
				}
				fmt.Fprintf(g.out, "grant %s (request %s) revoked by %s\n", gr.ID, gr.RequestID, as)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "approver login (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Show issued access tokens"}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print the access token of an approved request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				gr, err := svc.Token(ctx, args[0], "")
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(grantJSON(gr, true))
				}
				fmt.Fprintln(g.out, gr.Token)
				return nil
			})
		},
	}
	cmd.AddCommand(show)
	return cmd
}

func newVerifyCmd(g *globals) *cobra.Command {
	var audience string
	cmd := &cobra.Command{
		Use:   "verify [TOKEN|-]",
		Short: "Verify an access token against this database's keys and revocations",
		Long:  "Exit 0 and print the decoded claims when the token is valid; exit 1 and the reason when not. Reads stdin when TOKEN is - or absent.",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := ""
			if len(args) == 1 && args[0] != "-" {
				token = args[0]
			} else {
				b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
				if err != nil {
					return err
				}
				token = string(b)
			}
			token = strings.TrimSpace(token)
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				v, err := svc.VerifyToken(ctx, token, audience)
				if err != nil {
					if errors.Is(err, approvals.ErrUnauthenticated) {
						msg := strings.TrimPrefix(err.Error(), "verify token: ")
						return exitError{code: 1, msg: strings.Replace(msg, "unauthenticated: ", "", 1)}
					}
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"valid": true, "kid": v.Kid, "alg": v.Alg, "header": v.Header, "claims": v.Claims})
				}
				fmt.Fprintf(g.out, "valid — signed by kid %s (%s), expires %s\n", v.Kid, v.Alg, v.Claims.ExpiresAt.Time.Format(time.RFC3339))
				return g.printJSON(v.Claims)
			})
		},
	}
	cmd.Flags().StringVar(&audience, "audience", "", "also require this aud (default: the grant's own audience)")
	return cmd
}
