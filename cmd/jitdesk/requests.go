package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

func newRequestCmd(g *globals) *cobra.Command {
	cmd := newGroup("request", "Create, list, show and cancel access requests")
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
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
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
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				rows, err := listFiltered(ctx, svc, q, want, limit)
				if err != nil {
					return err
				}
				// Grant state of approved rows, one read each: a list is at
				// most 500 rows.
				now := svc.Now()
				grants := map[string]*approvals.Grant{}
				for _, r := range rows {
					if r.Status == approvals.StatusApproved {
						d, err := svc.Get(ctx, r.ID)
						if err != nil {
							return err
						}
						grants[r.ID] = d.Grant
					}
				}
				l := g.newListing("ID", "STATUS", "REQUESTER", "TEMPLATE", "TTL", "CREATED", "DECIDED", "GRANT")
				for _, r := range rows {
					decided, grant := "-", "-"
					if !r.DecidedAt.IsZero() {
						decided = r.DecidedBy + " " + ts(r.DecidedAt)
					}
					if gr := grants[r.ID]; gr != nil {
						grant = grantText(*gr, now)
					}
					l.add(withGrant(requestJSON(r), grants[r.ID], now), r.ID, string(r.Status), r.Requester, r.TemplateKey, dur(r.TTL), ts(r.CreatedAt), decided, grant)
				}
				return l.print()
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
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				d, err := getOnItsTerms(ctx, svc, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(detailJSON(d, svc.Now()))
				}
				printDetail(g, d, svc.Now())
				return nil
			})
		},
	}

	var cancelAs, cancelReason string
	cancel := &cobra.Command{
		Use:   "cancel ID --as LOGIN --reason TEXT",
		Short: "Withdraw a pending request (the requester, or someone who could decide it; the requester reads the reason)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cancelAs == "" || strings.TrimSpace(cancelReason) == "" {
				return usagef(cmd, "--as LOGIN and --reason TEXT are required: say why, the requester will read it")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				r, err := svc.Cancel(ctx, approvals.CancelInput{ID: args[0], Approver: cancelAs, Reason: cancelReason})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(requestJSON(r))
				}
				g.say("request %s cancelled by %s\n", r.ID, r.DecidedBy)
				return nil
			})
		},
	}
	cancel.Flags().StringVar(&cancelAs, "as", "", "approver login (required)")
	cancel.Flags().StringVar(&cancelReason, "reason", "", "why (required)")
	cmd.AddCommand(create, list, show, cancel)
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
		"id": r.ID, "status": r.Status, "template": r.TemplateKey, "template_version": r.TemplateVersion, "application": r.AppID, "requester": r.Requester,
		"reason": r.Reason, "metadata": r.Metadata, "ttl": dur(r.TTL), "approvals": r.Approvals,
		"created_at": ts(r.CreatedAt), "expires_at": ts(r.ExpiresAt),
	}
	if !r.DecidedAt.IsZero() {
		m["decided_at"] = ts(r.DecidedAt)
		m["decided_by"] = r.DecidedBy
	}
	return m
}

// withGrant adds a request's grant (its state now) to its JSON object.
func withGrant(m map[string]any, gr *approvals.Grant, now time.Time) map[string]any {
	if gr != nil {
		m["grant"] = grantJSON(*gr, now)
	}
	return m
}

func detailJSON(d approvals.Detail, now time.Time) map[string]any {
	m := requestJSON(d.Request)
	m["digest"] = d.Digest
	m["template_title"] = d.Template.Title
	m["template_type"] = d.Template.Type
	m["quorum"] = d.Template.Quorum
	reviews := []map[string]any{}
	for _, r := range d.Reviews {
		reviews = append(reviews, map[string]any{"approver": r.Approver, "decision": r.Decision, "comment": r.Comment, "signature_digest": r.SignatureDigest,
			"key_signature_digest": r.KeySignatureDigest, "key_fingerprint": r.KeyFingerprint, "at": ts(r.At)})
	}
	m["reviews"] = reviews
	m["decision"] = nil
	if rec := d.Decision(); rec != nil {
		m["decision"] = map[string]any{"outcome": rec.Outcome, "by": rec.By, "at": ts(rec.At), "comment": rec.Comment}
	}
	return withGrant(m, d.Grant, now)
}

// grantJSON is a grant's facts and its state at now; never its token.
func grantJSON(gr approvals.Grant, now time.Time) map[string]any {
	m := map[string]any{
		"id": gr.ID, "request": gr.RequestID, "subject": gr.Subject, "audience": gr.Audience, "scope": gr.Scope, "kid": gr.Kid,
		"issued_at": ts(gr.IssuedAt), "expires_at": ts(gr.ExpiresAt), "state": gr.StateAt(now), "break_glass": gr.BreakGlass,
	}
	if gr.Revoked() {
		m["revoked_at"] = ts(gr.RevokedAt)
		m["revoked_by"] = gr.RevokedBy
		m["revoke_reason"] = gr.RevokeReason
	}
	if gr.BreakGlass {
		m["acknowledged"] = gr.Acknowledged()
		if gr.Acknowledged() {
			m["reviewed_at"] = ts(gr.ReviewedAt)
			m["reviewed_by"] = gr.ReviewedBy
			m["review_comment"] = gr.ReviewComment
		}
	}
	return m
}

// grantText is a grant's state in a few words: "active", "expired",
// "revoked by bob at … (reason)", with break-glass and its review marked.
func grantText(gr approvals.Grant, now time.Time) string {
	s := string(gr.StateAt(now))
	switch {
	case gr.Revoked():
		s += " by " + gr.RevokedBy + " at " + ts(gr.RevokedAt) + ": " + gr.RevokeReason
	case !now.Before(gr.ExpiresAt):
		s += " at " + ts(gr.ExpiresAt)
	default:
		s += " until " + ts(gr.ExpiresAt)
	}
	if gr.BreakGlass {
		if gr.Acknowledged() {
			s += "; break-glass, acknowledged by " + gr.ReviewedBy + " at " + ts(gr.ReviewedAt)
		} else {
			s += "; break-glass, awaiting review"
		}
	}
	return s
}

func pastTense(d approvals.Decision) string {
	switch d {
	case approvals.DecisionApprove:
		return "approved"
	case approvals.DecisionDeny:
		return "denied"
	}
	return string(d)
}

func printDetail(g *globals, d approvals.Detail, now time.Time) {
	r := d.Request
	l := g.newListing("request", r.ID)
	row := func(k, v string) { l.add(nil, k, v) }
	row("status", string(r.Status))
	if rec := d.Decision(); rec != nil {
		v := string(rec.Outcome) + " by " + rec.By + " at " + ts(rec.At)
		if rec.Comment != "" {
			v += ": " + rec.Comment
		}
		row("decision", v)
	}
	row("requester", r.Requester)
	row("application", d.Application.Name+" ("+r.AppID+")")
	row("template", fmt.Sprintf("%s v%d — %s (%s, quorum %d)", d.Template.Key, d.Template.Version, d.Template.Title, d.Template.Type.Label(), d.Template.Quorum))
	row("reason", r.Reason)
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row("meta "+k, r.Metadata[k])
	}
	row("ttl", dur(r.TTL))
	row("created", ts(r.CreatedAt))
	row("expires", ts(r.ExpiresAt))
	row("digest", d.Digest)
	for _, rv := range d.Reviews {
		v := rv.Approver + " " + pastTense(rv.Decision) + " at " + ts(rv.At)
		if rv.Comment != "" {
			v += ": " + rv.Comment
		}
		if rv.SignatureDigest != "" {
			v += " (signed)"
		}
		if rv.KeySignatureDigest != "" {
			v += " (key-signed " + rv.KeyFingerprint + ")"
		} else {
			v += " (not key-signed)"
		}
		row("review", v)
	}
	if d.Grant != nil {
		row("grant", d.Grant.ID+", kid "+d.Grant.Kid+", issued "+ts(d.Grant.IssuedAt))
		row("grant state", grantText(*d.Grant, now))
	}
	l.tw.Flush()
}

func newApproveCmd(g *globals) *cobra.Command {
	var as, comment, typed, ttl, digest string
	var breakGlass bool
	var ksm keySignMode
	cmd := &cobra.Command{
		Use:   "approve ID --as LOGIN [--comment C] [--sign-typed \"Full Name\"] [--ttl D] [--break-glass] [--no-key-signature]",
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
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				d, err := getOnItsTerms(ctx, svc, args[0])
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
				keyTTL := in.TTL
				if keyTTL == 0 && breakGlass && d.Template.BreakGlassMaxTTL > 0 {
					keyTTL = min(d.Request.TTL, d.Template.BreakGlassMaxTTL)
				}
				ks, err := g.keySignDecision(ctx, svc, d, approvals.KeyStatementInput{RequestID: args[0], Approver: as, Digest: in.Digest, Decision: approvals.DecisionApprove, TTL: keyTTL}, ksm)
				if err != nil {
					return err
				}
				in.KeySignature = ks
				out, err := svc.Approve(ctx, in)
				if err != nil {
					return err
				}
				if out.Grant == nil {
					if g.json {
						return g.printJSON(map[string]any{"request": out.Request.ID, "status": out.Request.Status, "remaining": out.Remaining})
					}
					g.warn("approved by %s; %d more approval(s) needed\n", as, out.Remaining)
					return nil
				}
				if g.json {
					return g.printJSON(map[string]any{"request": out.Request.ID, "status": out.Request.Status, "access_token": out.Token, "grant": out.Grant.ID, "expires_at": ts(out.Grant.ExpiresAt)})
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
	f.BoolVar(&ksm.never, "no-key-signature", false, "do not sign with your SSH key even when $SSH_AUTH_SOCK holds it (refused where the template requires it)")
	return cmd
}

func newDenyCmd(g *globals) *cobra.Command {
	var as, comment, digest string
	var ksm keySignMode
	cmd := &cobra.Command{
		Use:   "deny ID --as LOGIN --comment C [--no-key-signature]",
		Short: "Deny a request (ends it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" || strings.TrimSpace(comment) == "" {
				return usagef(cmd, "--as LOGIN and --comment C are required: say why, the requester will read it")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				d, err := getOnItsTerms(ctx, svc, args[0])
				if err != nil {
					return err
				}
				if digest == "" {
					digest = d.Digest
				}
				ks, err := g.keySignDecision(ctx, svc, d, approvals.KeyStatementInput{RequestID: args[0], Approver: as, Digest: digest, Decision: approvals.DecisionDeny}, ksm)
				if err != nil {
					return err
				}
				r, err := svc.Deny(ctx, approvals.DenyInput{RequestID: args[0], Approver: as, Digest: digest, Comment: comment, KeySignature: ks})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(requestJSON(r))
				}
				g.say("request %s denied by %s\n", r.ID, as)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "approver login (required)")
	cmd.Flags().StringVar(&comment, "comment", "", "why (required)")
	cmd.Flags().StringVar(&digest, "digest", "", "refuse unless the request still has this digest")
	cmd.Flags().BoolVar(&ksm.never, "no-key-signature", false, "do not sign with your SSH key even when $SSH_AUTH_SOCK holds it (refused where the template requires it)")
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
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				gr, err := svc.Revoke(ctx, approvals.RevokeInput{ID: args[0], Approver: as, Reason: reason})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(grantJSON(gr, svc.Now()))
				}
				g.say("grant %s (request %s) revoked by %s\n", gr.ID, gr.RequestID, as)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "approver login (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := newGroup("token", "Show issued access tokens (to the approvers who issued them)")
	var as string
	show := &cobra.Command{
		Use:   "show ID --as LOGIN",
		Short: "Print the access token of a grant (grant or request id), if your approval issued it; each showing is audited",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return usagef(cmd, "--as LOGIN is required: only an approver whose approval issued the grant sees its token")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				gr, err := svc.RevealToken(ctx, approvals.RevealInput{ID: args[0], Viewer: as, Use: approvals.TokenShown})
				if err != nil {
					return err
				}
				if g.json {
					m := grantJSON(gr, svc.Now())
					m["access_token"] = gr.Token
					return g.printJSON(m)
				}
				if st := gr.StateAt(svc.Now()); st != approvals.GrantActive {
					g.warn("warning: grant %s is %s\n", gr.ID, grantText(gr, svc.Now()))
				}
				fmt.Fprintln(g.out, gr.Token)
				return nil
			})
		},
	}
	show.Flags().StringVar(&as, "as", "", "approver login (required)")
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
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
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
				g.say("valid — signed by kid %s (%s), expires %s\n", v.Kid, v.Alg, ts(v.Claims.ExpiresAt.Time))
				return g.printJSON(v.Claims)
			})
		},
	}
	cmd.Flags().StringVar(&audience, "audience", "", "also require this aud (default: the grant's own audience)")
	return cmd
}

// getOnItsTerms loads a request with the template version it was made
// under (and the digest over those terms), which is what an approver
// reviews and signs and what the decision is checked against. Service.Get
// fills the template's current version; a request made before a template
// update is decided on its own.
func getOnItsTerms(ctx context.Context, svc *approvals.Service, id string) (approvals.Detail, error) {
	d, err := svc.Get(ctx, id)
	if err != nil {
		return d, err
	}
	if v := d.Request.TemplateVersion; v != 0 && v != d.Template.Version {
		t, err := svc.TemplateAt(ctx, d.Template.Key, v)
		if err != nil {
			return d, err
		}
		d.Template, d.Digest = t, approvals.Digest(d.Request, t)
	}
	return d, nil
}
