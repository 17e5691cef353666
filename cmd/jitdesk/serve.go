package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/server"
	"github.com/jitdesk/jitdesk/webhook"
)

func newServeCmd(g *globals) *cobra.Command {
	var httpAddr, sshAddr, hostKey string
	var idle, maxSession time.Duration
	var quiet, noWebhooks bool
	cmd := &cobra.Command{
		Use:   "serve [--http ADDR] [--ssh ADDR] [--issuer URL]",
		Short: "Serve the HTTP intake API and the SSH console",
		Long: `Serves applications over HTTP (intake, status, token pick-up, JWKS,
introspection, revocation) and approvers over SSH (the console, public-key
authentication only). Pass an empty address to turn one of them off.
It also sends webhook events (see jitdesk webhook) unless --no-webhooks.
SIGINT or SIGTERM shuts down gracefully: in-flight requests finish first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if httpAddr == "" && sshAddr == "" {
				return usagef(cmd, "nothing to serve: give --http ADDR, --ssh ADDR or both")
			}
			svc, db, err := g.open(false)
			if err != nil {
				return err
			}
			defer db.Close()
			log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
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
			errc := make(chan error, 2)
			var httpSrv *http.Server
			if httpAddr != "" {
				ln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return fmt.Errorf("--http %s: %w", httpAddr, err)
				}
				httpSrv = &http.Server{
					Handler:           server.NewHTTPHandler(server.HTTPConfig{Service: svc, Logger: log}),
					ReadHeaderTimeout: 5 * time.Second,
					ReadTimeout:       15 * time.Second,
					WriteTimeout:      90 * time.Second, // above the long-poll cap
					IdleTimeout:       2 * time.Minute,
					MaxHeaderBytes:    16 << 10,
				}
				log.Info("http listening", "addr", ln.Addr().String(), "issuer", svc.Issuer())
				go func() { errc <- ignoreClosed(httpSrv.Serve(ln)) }()
			}
			var sshSrv *server.SSHServer
			if sshAddr != "" {
				sshSrv, err = server.NewSSHServer(server.SSHConfig{
					Service: svc, Logger: log, Addr: sshAddr, HostKeyPath: hostKey,
					IdleTimeout: idle, MaxSession: maxSession, Bell: !quiet,
				})
				removeHostKey() // loaded: a shared key's plaintext leaves the disk now
				if err != nil {
					return fmt.Errorf("ssh: %w", err)
				}
				log.Info("ssh listening", "addr", sshAddr, "host_key", hostKeyShown)
				go func() { errc <- ignoreClosed(sshSrv.ListenAndServe()) }()
			}
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
				errs = append(errs, httpSrv.Shutdown(shutdownCtx))
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
	return cmd
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
