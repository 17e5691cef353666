package server

import (
	"context"
	"errors"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// accessRecheckGap is the least time between two re-checks of the live
// sessions. Change signals arrive on every commit (a busy intake commits
// constantly), and each re-check reads one row per distinct key; the gap
// bounds that cost while a withdrawn key still loses its sessions well
// within a second.
const accessRecheckGap = 250 * time.Millisecond

// certRecheckRetry is how soon a certificate session past its certificate's
// end is looked at again when the re-check did not end it.
const certRecheckRetry = 5 * time.Second

// startAccessChecks starts, once per server, the goroutine that ends live
// sessions whose key was removed, whose certificate expired or was revoked,
// or whose approver was disabled. It holds one change-feed subscription
// for the whole server, whatever the number of sessions.
// Each new session also asks for a re-check, so a key withdrawn between
// its login and its registration here is not missed.
func (s *SSHServer) startAccessChecks() {
	s.accessOnce.Do(func() { go s.recheckAccess() })
	s.RecheckAccess()
}

// RecheckAccess asks for a re-check of every live session now, beside the
// ones every store change triggers. Call it when something the store does
// not hold changed: the SSH user CA's revocation list was reloaded, say.
// It does not wait for the re-check.
func (s *SSHServer) RecheckAccess() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *SSHServer) stopAccessChecks() {
	s.stopOnce.Do(func() { close(s.stop) })
}

func (s *SSHServer) recheckAccess() {
	changes, unsubscribe := s.cfg.Service.Subscribe()
	defer unsubscribe()
	for {
		select {
		case <-s.stop:
			return
		case <-changes:
		case <-s.kick:
		}
		started := time.Now()
		s.recheckSessions()
		// Signals that arrived meanwhile wait in the channel (coalesced).
		select {
		case <-s.stop:
			return
		case <-time.After(accessRecheckGap - time.Since(started)):
		}
	}
}

// recheckSessions looks up every live session's key (or certificate) once
// and ends the sessions it no longer admits, telling the approver why.
func (s *SSHServer) recheckSessions() {
	s.mu.Lock()
	byKey := map[string][]*sessionState{}
	var certs []*sessionState
	for _, st := range s.programs {
		if st.cert != nil {
			certs = append(certs, st)
			continue
		}
		byKey[st.fingerprint] = append(byKey[st.fingerprint], st)
	}
	s.mu.Unlock()
	for fp, sessions := range byKey {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := s.cfg.Service.ApproverBySSHKey(ctx, fp)
		cancel()
		var reason string
		switch {
		case errors.Is(err, approvals.ErrDisabled):
			reason = "your approver account was disabled; this session has ended"
		case errors.Is(err, approvals.ErrNotFound):
			reason = "this SSH key no longer belongs to an approver (it was removed); this session has ended"
		case err != nil:
			// The database did not answer: keep the session; the next
			// change re-checks it.
			s.log.Error("ssh access re-check", "fingerprint", fp, "err", err.Error())
			continue
		}
		s.endUnless(sessions, a, reason)
	}
	// A certificate is checked again in full (validity, revocation, the
	// principal's approver), per session: two sessions may hold different
	// certificates for one key.
	for _, st := range certs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := s.cfg.Service.ApproverByCertificate(ctx, st.cert, st.sess.RemoteAddr())
		cancel()
		var reason string
		switch {
		case err == nil:
		case errors.Is(err, approvals.ErrDisabled):
			reason = "your approver account was disabled; this session has ended"
		case errors.Is(err, approvals.ErrNotFound):
			reason = "your certificate's principal is no longer an approver; this session has ended"
		case certRefusalReason(err) != "":
			reason = "your SSH certificate is no longer accepted (" + certRefusalReason(err) + "); this session has ended"
		default:
			s.log.Error("ssh access re-check", "fingerprint", st.fingerprint, "certificate_serial", st.cert.Serial, "err", err.Error())
			continue
		}
		s.endUnless([]*sessionState{st}, a, reason)
	}
}

// endUnless ends the sessions that reason (or a login other than theirs)
// no longer admits.
func (s *SSHServer) endUnless(sessions []*sessionState, a approvals.Approver, reason string) {
	for _, st := range sessions {
		why := reason
		if why == "" && a.Login != st.login {
			why = "this SSH key now belongs to another approver; this session has ended"
		}
		if why == "" || st.why() != "" {
			continue // admitted, or already ending
		}
		s.log.Info("ssh session ended: access withdrawn", "login", st.login, "fingerprint", st.fingerprint, "reason", why)
		st.end(why)
		go endSession(st.sess, st.prog)
	}
}
