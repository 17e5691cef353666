package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/filewatch"
	"github.com/jitdesk/jitdesk/metrics"
	"github.com/jitdesk/jitdesk/serveconfig"
	"github.com/jitdesk/jitdesk/server"
	"github.com/jitdesk/jitdesk/webhook"
)

func newServeCmd(g *globals) *cobra.Command {
	var httpAddr, sshAddr, hostKey, configPath, printConfig string
	var tlsCert, tlsKey, diagAddr, logLevel, logFormat string
	var trustedProxies []string
	var caFiles userCAFiles
	var idle, maxSession, retention time.Duration
	var quiet, noWebhooks bool
	cmd := &cobra.Command{
		Use:   "serve [--http ADDR] [--ssh ADDR] [--issuer URL]",
		Short: "Serve the HTTP intake API and the SSH console",
		Long: `Serves applications over HTTP (intake, status, token pick-up, JWKS,
introspection, revocation) and approvers over SSH (the console, public-key
authentication only). Pass an empty address to turn one of them off.
It also sends webhook events (see jitdesk webhook) unless --no-webhooks, and
prunes finished webhook deliveries older than --webhook-retention every hour.

Every setting also comes from a JITDESK_* variable (--idle-timeout is
$JITDESK_IDLE_TIMEOUT) or a TOML/YAML file (--config, keys are the flag names),
in that order after the flags; --print-config shows the result.

The TLS certificate and key and the SSH user CA files are read again when
any of them changes on disk (serve watches their folders, so a file renamed
into place counts) and on SIGHUP; a broken new file is refused and logged,
and the previous one stays. SIGINT or SIGTERM shuts down gracefully: parked long-polls are answered with
the request's state, SSH sessions are told, webhook batches finish, exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			settings, err := applyServeConfig(cmd.Flags(), configPath)
			if err != nil {
				return err
			}
			if printConfig != "" {
				for i := range settings {
					if settings[i].Name == "db" {
						settings[i].Value = redactDSN(settings[i].Value)
					}
				}
				return serveconfig.Print(g.out, settings, printConfig)
			}
			if httpAddr == "" && sshAddr == "" {
				return usagef(cmd, "nothing to serve: give --http ADDR, --ssh ADDR or both")
			}
			if (tlsCert == "") != (tlsKey == "") {
				return usagef(cmd, "--tls-cert and --tls-key go together: give both for HTTPS, or neither")
			}
			if caFiles.ca == "" && (caFiles.principals != "" || caFiles.revoked != "") {
				return usagef(cmd, "--ssh-principal-map and --ssh-revoked-keys apply to certificates: give --ssh-user-ca CA.pub too")
			}
			if retention != 0 && retention < time.Hour {
				return usagef(cmd, "--webhook-retention %s: keep finished deliveries at least 1h (0 turns pruning off)", retention)
			}
			log, err := newLogger(os.Stderr, logLevel, logFormat)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			proxies, err := server.ParseTrustedProxies(trustedProxies)
			if err != nil {
				return usagef(cmd, "--trusted-proxy: %v", err)
			}
			var certs *server.CertReloader
			if tlsCert != "" {
				if certs, err = server.NewCertReloader(tlsCert, tlsKey); err != nil {
					return err
				}
				certs.SetLogger(log)
			}
			var userCA *reloadableCA
			if caFiles.ca != "" {
				if userCA, err = newReloadableCA(caFiles); err != nil {
					return err
				}
			}
			m := metrics.New(metrics.Options{Logger: log})
			g.serviceHooks = append(g.serviceHooks, func(o *approvals.Options) {
				o.Observers = append(o.Observers, m, server.SecurityLog(log))
				if userCA != nil {
					o.UserCA = userCA
				}
			})
			svc, db, err := g.open(false)
			if err != nil {
				return err
			}
			defer db.Close()
			m.SetStats(svc.Stats)
			// Decisions are counted from the audit log, whoever commits
			// them (a CLI approve, a local console, another node).
			head, err := svc.AuditHead(cmd.Context())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The host key: --host-key, else the file beside a SQLite
			// database, else (PostgreSQL) the deployment's key kept sealed
			// in the database, so every node shows clients the same one.
			hostKeyShown, removeHostKey := hostKey, func() {}
			if hostKey == "" && sshAddr != "" {
				if p, ok := sqlitePath(db); ok {
					hostKey = filepath.Join(filepath.Dir(p), sshHostKeyFile)
					hostKeyShown = hostKey
				} else {
					if hostKey, removeHostKey, err = sharedHostKeyFile(ctx, svc); err != nil {
						return err
					}
					defer removeHostKey()
					hostKeyShown = "the database (shared by every node)"
				}
			}

			go svc.RunSweeper(ctx, sweepEvery, func(err error) { log.Error("sweeper", "err", err) })
			// Webhooks are sent from serve, the long-lived process with network
			// egress; consoles only enqueue (in their own transactions). The
			// deliverer finishes and records its batch in flight before the
			// database closes.
			hooksDone := make(chan struct{})
			if noWebhooks {
				close(hooksDone)
			} else {
				hooks := webhook.New(svc, webhook.Options{Logger: log})
				go func() { defer close(hooksDone); hooks.Run(ctx) }()
			}
			defer func() { stop(); <-hooksDone }()
			if retention > 0 {
				go pruneEvery(ctx, svc, retention, log)
			}
			go func() {
				if err := svc.FollowAudit(ctx, head, m.Audited); err != nil {
					log.Error("metrics: following the audit log stopped", "err", err.Error())
				}
			}()
			errc := make(chan error, 3)
			api := server.NewAPI(server.HTTPConfig{Service: svc, Logger: log, Metrics: m, MetricsOnlyOnDiag: diagAddr != "", TrustedProxies: proxies})
			var httpSrv, diagSrv *http.Server
			if httpAddr != "" {
				ln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return fmt.Errorf("--http %s: %w", httpAddr, err)
				}
				httpSrv = &http.Server{
					Handler:           api,
					ReadHeaderTimeout: 5 * time.Second,
					ReadTimeout:       15 * time.Second,
					WriteTimeout:      90 * time.Second, // above the long-poll cap
					IdleTimeout:       2 * time.Minute,
					MaxHeaderBytes:    16 << 10,
					ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
				}
				if certs != nil {
					httpSrv.TLSConfig = certs.TLSConfig()
					log.Info("https listening", "addr", ln.Addr().String(), "issuer", svc.Issuer(), "cert", tlsCert)
					go func() { errc <- ignoreClosed(httpSrv.ServeTLS(ln, "", "")) }()
				} else {
					log.Info("http listening", "addr", ln.Addr().String(), "issuer", svc.Issuer())
					go func() { errc <- ignoreClosed(httpSrv.Serve(ln)) }()
				}
			}
			if diagAddr != "" {
				dln, err := net.Listen("tcp", diagAddr)
				if err != nil {
					return fmt.Errorf("--diag-addr %s: %w", diagAddr, err)
				}
				diagSrv = &http.Server{Handler: api.DiagHandler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
				log.Info("diagnostics listening", "addr", dln.Addr().String(), "paths", "/metrics /healthz /readyz")
				go func() { errc <- ignoreClosed(diagSrv.Serve(dln)) }()
			}
			var sshSrv *server.SSHServer
			if sshAddr != "" {
				sshSrv, err = server.NewSSHServer(server.SSHConfig{
					Service: svc, Logger: log, Addr: sshAddr, HostKeyPath: hostKey,
					IdleTimeout: idle, MaxSession: maxSession, Bell: !quiet, Metrics: m,
				})
				removeHostKey() // loaded: a shared key's plaintext leaves the disk now
				if err != nil {
					return fmt.Errorf("ssh: %w", err)
				}
				log.Info("ssh listening", "addr", sshAddr, "host_key", hostKeyShown, "user_ca", caFiles.ca)
				go func() { errc <- ignoreClosed(sshSrv.ListenAndServe()) }()
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan string, 1)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						askReload(reload, "SIGHUP")
					}
				}
			}()
			if paths := slices.DeleteFunc([]string{tlsCert, tlsKey, caFiles.ca, caFiles.principals, caFiles.revoked}, func(p string) bool { return p == "" }); len(paths) > 0 {
				if fw, err := filewatch.New(paths, filewatch.DefaultSettle); err != nil {
					log.Warn("files are reloaded on SIGHUP only", "err", err.Error())
				} else {
					go fw.Run(ctx, func(names []string) { askReload(reload, "changed "+strings.Join(names, ", ")) })
				}
			}
			go reloadFiles(ctx, reload, certs, userCA, sshSrv, log)
			select {
			case <-ctx.Done():
				log.Info("shutting down")
			case err := <-errc:
				if err != nil {
					return err
				}
			}
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var errs []error
			if httpSrv != nil {
				// Parked long-polls are answered with their request's state
				// at once, so this returns when in-flight requests finish.
				errs = append(errs, api.Shutdown(shutdownCtx, httpSrv))
			}
			if diagSrv != nil {
				errs = append(errs, diagSrv.Shutdown(shutdownCtx))
			}
			if sshSrv != nil {
				errs = append(errs, sshSrv.Shutdown(shutdownCtx))
			}
			return errors.Join(errs...)
		},
	}
	f := cmd.Flags()
	f.StringVar(&httpAddr, "http", "127.0.0.1:8080", "HTTP listen address (empty: no HTTP)")
	f.StringVar(&sshAddr, "ssh", "127.0.0.1:2222", "SSH listen address (empty: no SSH)")
	f.StringVar(&hostKey, "host-key", "", "SSH host key file, created once (default: ssh_host_ed25519_key beside a SQLite database; on PostgreSQL the key kept sealed in the database, the same on every node)")
	f.DurationVar(&idle, "idle-timeout", 15*time.Minute, "end SSH sessions after this long without input from the approver")
	f.DurationVar(&maxSession, "max-session", 12*time.Hour, "longest SSH session")
	registerQuiet(cmd, &quiet) // --quiet: no bell or notifications in SSH consoles
	f.BoolVar(&noWebhooks, "no-webhooks", false, "do not send webhook events from this process (they wait in the outbox for another serve)")
	f.DurationVar(&retention, "webhook-retention", defaultWebhookRetention, "prune finished webhook deliveries older than this, hourly (0: never)")
	f.StringVar(&tlsCert, "tls-cert", "", "PEM certificate chain: serve HTTPS (with --tls-key); reloaded when it changes and on SIGHUP")
	f.StringVar(&tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringSliceVar(&trustedProxies, "trusted-proxy", nil, "CIDR or address of a reverse proxy whose X-Forwarded-For names the client (repeatable)")
	f.StringVar(&diagAddr, "diag-addr", "", "serve /metrics, /healthz and /readyz on this address (then /metrics is not on --http)")
	f.StringVar(&logLevel, "log-level", "info", "debug | info | warn | error")
	f.StringVar(&logFormat, "log-format", "json", "json | text")
	f.StringVar(&caFiles.ca, "ssh-user-ca", "", "trust SSH user certificates signed by the CA public key(s) in FILE: a certificate naming an approver's login logs in as them")
	f.StringVar(&caFiles.principals, "ssh-principal-map", "", "FILE of \"principal login\" lines, for certificate principals that are not logins")
	f.StringVar(&caFiles.revoked, "ssh-revoked-keys", "", "revoked certificates and keys: an OpenSSH KRL (ssh-keygen -k) or a list of serial:N, id:KEYID, keys; reloaded when it changes and on SIGHUP")
	f.StringVar(&configPath, "config", "", "read settings from this TOML or YAML `FILE` (default $"+configEnv+"); flags, then JITDESK_* variables, win over it")
	f.StringVar(&printConfig, "print-config", "", "print the effective configuration as a config file in `FORMAT` (toml or yaml), secrets redacted, and exit")
	f.Lookup("print-config").NoOptDefVal = "toml"
	return cmd
}

// configEnv names the config file when --config is not given.
const configEnv = "JITDESK_CONFIG"

// serveSettings marks which of serve's flags (its own and, once parsed,
// the inherited ones) are not settings: the config file itself, and
// --json, which is about this command's output rather than the service.
func serveSettings(fs *pflag.FlagSet) {
	serveconfig.Skip(fs, "config", "print-config", "json")
}

// applyServeConfig sets every serve setting not given as a flag from its
// JITDESK_* variable, else from the config file (--config, else
// $JITDESK_CONFIG), and returns the effective settings. fs must be the
// parsed command's Flags(), which then hold the inherited --db, --issuer
// and --master-key-file too, so they are settings like serve's own.
func applyServeConfig(fs *pflag.FlagSet, path string) ([]serveconfig.Setting, error) {
	if path == "" {
		path = os.Getenv(configEnv)
	}
	serveSettings(fs)
	settings, err := serveconfig.Apply(fs, path, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return settings, nil
}

// newLogger builds serve's logger from --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use json or text", format)
}

// askReload asks reloadFiles to read the files again. One request waiting
// is enough: that reload reads the files as they are when it runs.
func askReload(reload chan<- string, cause string) {
	select {
	case reload <- cause:
	default:
	}
}

// reloadFiles reloads the TLS pair and the SSH user CA files on each
// request (SIGHUP, or one of them changed on disk); a broken new file is
// logged and the previous one stays in use. Sessions are checked again
// afterwards, so a newly revoked certificate ends its sessions.
func reloadFiles(ctx context.Context, reload <-chan string, certs *server.CertReloader, ca *reloadableCA, sshSrv *server.SSHServer, log *slog.Logger) {
	for {
		var cause string
		select {
		case <-ctx.Done():
			return
		case cause = <-reload:
		}
		log.Info("reloading files", "cause", cause)
		if certs != nil {
			if err := certs.Reload(); err != nil {
				log.Error("tls reload refused; the previous certificate stays", "err", err.Error())
			}
		}
		if ca != nil {
			if err := ca.Reload(); err != nil {
				log.Error("ssh user CA reload refused; the previous files stay", "err", err.Error())
			}
		}
		if sshSrv != nil {
			sshSrv.RecheckAccess()
		}
	}
}

// pruneEvery prunes finished webhook deliveries older than keep, now and
// then every hour.
func pruneEvery(ctx context.Context, svc *approvals.Service, keep time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		rep, err := svc.PruneWebhookDeliveries(ctx, approvals.SystemSweeper, keep)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("prune webhook deliveries", "err", err.Error())
		case rep.Deliveries > 0:
			log.Info("pruned webhook deliveries", "deliveries", rep.Deliveries, "bodies", rep.Bodies, "finished_before", rep.Before)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// redactDSN hides the password of a PostgreSQL URL (in its user info or
// its password= parameter) for display; other values pass unchanged.
func redactDSN(v string) string {
	if !isPostgres(v) {
		return v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "<unparseable postgres URL, not shown>"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
