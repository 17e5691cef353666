package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/ui"
)

// Shell completion of values (`jitdesk completion bash|zsh|fish`): template
// keys, logins, applications, request ids, rotations and statuses, read
// through the Service a page at a time and never more than maxCompletions.

// maxCompletions bounds what one completion reads and offers.
const maxCompletions = 200

// completer lists the values starting with prefix, as "value\tdescription".
type completer func(ctx context.Context, svc *approvals.Service, args []string, prefix string) []string

// withDB adapts a completer to cobra, opening the database (--db, read
// only in intent: the issuer is not settled) for the duration of one call.
// A completion never prints an error: it offers nothing instead.
func (g *globals) withDB(c completer) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		svc, db, err := g.openUnsealed()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		return c(context.Background(), svc, args, prefix), cobra.ShellCompDirectiveNoFileComp
	}
}

// onArg completes positional argument n with c, nothing after it.
func onArg(n int, c completer) completer {
	return func(ctx context.Context, svc *approvals.Service, args []string, prefix string) []string {
		if len(args) != n {
			return nil
		}
		return c(ctx, svc, args, prefix)
	}
}

func completeTemplates(ctx context.Context, svc *approvals.Service, _ []string, prefix string) []string {
	var out []string
	_ = eachPageWhile(func(after string, n int) ([]approvals.Template, error) { return svc.Templates(ctx, after, n) },
		func(t approvals.Template) string { return t.Key },
		func(t approvals.Template) bool {
			if strings.HasPrefix(t.Key, prefix) {
				out = append(out, t.Key+"\t"+completionNote(t.Title))
			}
			return len(out) < maxCompletions
		})
	return out
}

func completeLogins(ctx context.Context, svc *approvals.Service, _ []string, prefix string) []string {
	var out []string
	_ = eachPageWhile(func(after string, n int) ([]approvals.Approver, error) { return svc.Approvers(ctx, after, n) },
		func(a approvals.Approver) string { return a.Login },
		func(a approvals.Approver) bool {
			if strings.HasPrefix(a.Login, prefix) && !a.Disabled() {
				out = append(out, a.Login+"\t"+completionNote(a.Name))
			}
			return len(out) < maxCompletions
		})
	return out
}

func completeApps(ctx context.Context, svc *approvals.Service, _ []string, prefix string) []string {
	var out []string
	_ = eachPageWhile(func(after string, n int) ([]approvals.Application, error) { return svc.Applications(ctx, after, n) },
		func(a approvals.Application) string { return a.Name },
		func(a approvals.Application) bool {
			if strings.HasPrefix(a.Name, prefix) && !strings.ContainsAny(a.Name, " \t") {
				out = append(out, a.Name+"\t"+completionNote(a.Audience))
			}
			return len(out) < maxCompletions
		})
	return out
}

func completeRotations(ctx context.Context, svc *approvals.Service, _ []string, prefix string) []string {
	rs, err := svc.Rotations(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rs {
		if strings.HasPrefix(r.Name, prefix) && len(out) < maxCompletions {
			out = append(out, r.Name+"\t"+completionNote(strings.Join(r.Members, ",")))
		}
	}
	return out
}

// requestIDs completes pending requests (oldest first), and with recent
// the newest decided ones too.
func requestIDs(recent bool) completer {
	return func(ctx context.Context, svc *approvals.Service, _ []string, prefix string) []string {
		var out []string
		scopes := []approvals.Scope{approvals.ScopePending}
		if recent {
			scopes = append(scopes, approvals.ScopeDecided)
		}
		for _, scope := range scopes {
			page, err := svc.List(ctx, approvals.RequestQuery{Scope: scope, Limit: 100})
			if err != nil {
				return out
			}
			for _, r := range page {
				if strings.HasPrefix(r.ID, strings.ToUpper(prefix)) && len(out) < maxCompletions {
					out = append(out, r.ID+"\t"+completionNote(string(r.Status)+" · "+r.Requester+" · "+r.TemplateKey))
				}
			}
		}
		return out
	}
}

func completeAwaitingReview(ctx context.Context, svc *approvals.Service, _ []string, prefix string) []string {
	gs, err := svc.AwaitingReview(ctx, nil, maxCompletions)
	if err != nil {
		return nil
	}
	var out []string
	for _, gr := range gs {
		if strings.HasPrefix(gr.ID, strings.ToUpper(prefix)) {
			out = append(out, gr.ID+"\t"+completionNote(gr.Subject+" · "+gr.Scope))
		}
	}
	return out
}

// completeActiveKeys offers the fingerprints of args[0]'s active keys.
func completeActiveKeys(ctx context.Context, svc *approvals.Service, args []string, prefix string) []string {
	a, err := svc.Approver(ctx, args[0])
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range a.ActiveKeys() {
		if strings.HasPrefix(k.Fingerprint, prefix) {
			out = append(out, k.Fingerprint)
		}
	}
	return out
}

// completionNote is a description shown beside a value: inert, one line,
// short (it reaches the terminal through the shell).
func completionNote(s string) string {
	s = ui.Inert(s)
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func fixed(values ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// registerCompletions attaches value completion to the commands and flags
// that take names, ids or keywords.
func registerCompletions(g *globals, root *cobra.Command) {
	args := map[string]completer{
		"template update": onArg(0, completeTemplates), "template show": onArg(0, completeTemplates),
		"template disable": onArg(0, completeTemplates), "template enable": onArg(0, completeTemplates),
		"approver update": onArg(0, completeLogins), "approver disable": onArg(0, completeLogins), "approver enable": onArg(0, completeLogins),
		"approver key add": onArg(0, completeLogins),
		"approver key remove": func(ctx context.Context, svc *approvals.Service, a []string, p string) []string {
			if len(a) == 0 {
				return completeLogins(ctx, svc, a, p)
			}
			return onArg(1, completeActiveKeys)(ctx, svc, a, p)
		},
		"app update": onArg(0, completeApps), "app disable": onArg(0, completeApps), "app enable": onArg(0, completeApps),
		"app secret rotate": onArg(0, completeApps),
		"request show":      onArg(0, requestIDs(true)), "request cancel": onArg(0, requestIDs(false)),
		"approve": onArg(0, requestIDs(false)), "deny": onArg(0, requestIDs(false)),
		"revoke": onArg(0, requestIDs(true)), "token show": onArg(0, requestIDs(true)), "signature export": onArg(0, requestIDs(true)),
		"oncall who": onArg(0, completeRotations), "oncall update": onArg(0, completeRotations), "oncall remove": onArg(0, completeRotations),
		"oncall override": onArg(0, completeRotations), "oncall override cancel": onArg(0, completeRotations),
		"breakglass ack": onArg(0, completeAwaitingReview),
	}
	loginFlags := map[string]bool{"as": true, "approver": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "jitdesk"), " ")
		if comp, ok := args[path]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = g.withDB(comp)
		}
		for name := range loginFlags {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, g.withDB(completeLogins))
			}
		}
		flagComps := map[string]cobra.CompletionFunc{
			"template": g.withDB(completeTemplates), "app": g.withDB(completeApps), "oncall": g.withDB(completeRotations),
			"status": fixed("pending", "approved", "denied", "expired", "cancelled"), "type": fixed("approve", "sign_and_approve"),
			"alg": fixed("EdDSA", "RS256", "ES256"),
		}
		if path == "signature export" {
			flagComps["format"] = fixed("svg", "png")
		}
		for name, fn := range flagComps {
			if f := c.Flags().Lookup(name); f != nil && f.Value.Type() != "bool" {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
