package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// keySig is a key signature of request by approver; the armored text is
// made up (the store keeps what it is given: verifying is the Service's).
func keySig(digest, request, approver string, d approvals.Decision, at time.Time) approvals.StoredKeySignature {
	return approvals.StoredKeySignature{
		Digest: digest, RequestID: request, Approver: approver, Decision: d,
		// A statement is bytes: NUL and invalid UTF-8 must come back as they went in.
		Statement:   []byte("jitdesk decision v1\x00\xff" + digest),
		Armored:     []byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH" + digest + "\n-----END SSH SIGNATURE-----\n"),
		Fingerprint: "SHA256:fp-" + approver, PublicKey: "ssh-ed25519 AAAAC3Nza" + approver, SignedAt: at,
	}
}

func sameKeySig(a, b approvals.StoredKeySignature) bool {
	return a.Digest == b.Digest && a.RequestID == b.RequestID && a.Approver == b.Approver && a.Decision == b.Decision &&
		bytes.Equal(a.Statement, b.Statement) && bytes.Equal(a.Armored, b.Armored) && a.Fingerprint == b.Fingerprint &&
		a.PublicKey == b.PublicKey && a.Certificate == b.Certificate && a.SignedAt.Equal(b.SignedAt) && b.SignedAt.Location() == time.UTC
}

func keySigDigests(ks []approvals.StoredKeySignature) string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Digest
	}
	return strings.Join(out, ",")
}

// keySignatures: InsertKeySignature stores every field as given
// (ErrConflict on a second one with the same digest, the transaction going
// on), KeySignatures lists a request's oldest first, KeySignaturesAfter
// walks all of them in digest order, and a review carries the digest and
// fingerprint of its key signature through every way reviews are read.
func (s *suite) keySignatures(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	ks1 := keySig("d-c", "R00001", "bob", approvals.DecisionApprove, base.Add(2*time.Second))
	ks2 := keySig("d-a", "R00001", "alice", approvals.DecisionDeny, base.Add(time.Second))
	ks2.Certificate = "ssh-ed25519-cert-v01@openssh.com AAAAcert"
	ks3 := keySig("d-b", "R00002", "alice", approvals.DecisionApprove, base)
	update(t, db, func(tx approvals.Tx) error {
		for _, r := range []approvals.Request{Req(1, "db", "m", approvals.StatusPending), Req(2, "k8s", "m", approvals.StatusPending)} {
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
		}
		// Read before the write: a store that memoises reviews within a
		// transaction must hand back the new review's key fields too.
		if rs, err := tx.Reviews("R00001"); err != nil || len(rs) != 0 {
			t.Errorf("reviews before any: %+v %v", rs, err)
		}
		for _, k := range []approvals.StoredKeySignature{ks1, ks2} {
			if err := tx.InsertKeySignature(k); err != nil {
				return err
			}
		}
		dup := ks1
		dup.Approver, dup.Armored = "alice", []byte("other")
		if err := tx.InsertKeySignature(dup); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("a second key signature with digest %s: %v, want ErrConflict", dup.Digest, err)
		}
		if err := tx.InsertKeySignature(ks3); err != nil {
			return fmt.Errorf("insert after a refused duplicate: %w", err)
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "bob", Decision: approvals.DecisionApprove, At: base.Add(2 * time.Second),
			GrantTTL: time.Hour, KeySignatureDigest: ks1.Digest, KeyFingerprint: ks1.Fingerprint}); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "carol", Decision: approvals.DecisionDeny, At: base.Add(3 * time.Second)}); err != nil {
			return err
		}
		rs, err := tx.Reviews("R00001")
		if err != nil || len(rs) != 2 || rs[0].KeySignatureDigest != ks1.Digest || rs[0].KeyFingerprint != ks1.Fingerprint || rs[1].KeySignatureDigest != "" {
			t.Errorf("reviews in the writing transaction: %+v %v", rs, err)
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		got, err := tx.KeySignatures("R00001")
		if err != nil || keySigDigests(got) != "d-a,d-c" {
			t.Fatalf("key signatures of R00001: %q %v, want d-a,d-c (oldest first)", keySigDigests(got), err)
		}
		if !sameKeySig(ks2, got[0]) || !sameKeySig(ks1, got[1]) {
			t.Errorf("key signatures as stored:\n%+v\n%+v\nwant\n%+v\n%+v", got[0], got[1], ks2, ks1)
		}
		if none, err := tx.KeySignatures("nope"); err != nil || len(none) != 0 {
			t.Errorf("key signatures of an unknown request: %+v %v", none, err)
		}
		page, err := tx.KeySignaturesAfter("", 2)
		if err != nil || keySigDigests(page) != "d-a,d-b" {
			t.Errorf("first page by digest: %q %v", keySigDigests(page), err)
		}
		page, err = tx.KeySignaturesAfter("d-b", 2)
		if err != nil || keySigDigests(page) != "d-c" || !sameKeySig(ks1, page[0]) {
			t.Errorf("page after d-b: %+v %v", page, err)
		}
		rs, err := tx.Reviews("R00001")
		if err != nil || len(rs) != 2 || rs[0].Approver != "bob" || rs[0].KeySignatureDigest != ks1.Digest || rs[0].KeyFingerprint != ks1.Fingerprint ||
			rs[1].KeySignatureDigest != "" || rs[1].KeyFingerprint != "" {
			t.Errorf("reviews: %+v %v", rs, err)
		}
		all, err := tx.ReviewsAfter("", "", 10)
		if err != nil || len(all) != 2 || all[0].KeySignatureDigest != ks1.Digest || all[0].KeyFingerprint != ks1.Fingerprint {
			t.Errorf("reviews walked for the replay: %+v %v", all, err)
		}
		return nil
	})
	// Failures that may abort a transaction, each in one of its own.
	for name, c := range map[string]struct {
		k    approvals.StoredKeySignature
		want error
	}{
		"of an unknown request":  {keySig("x1", "nope", "bob", approvals.DecisionApprove, base), approvals.ErrNotFound},
		"by an unknown approver": {keySig("x2", "R00001", "ghost", approvals.DecisionApprove, base), approvals.ErrNotFound},
		"of no decision":         {keySig("x3", "R00001", "bob", "maybe", base), approvals.ErrInvalid},
	} {
		if err := db.Update(ctx(), func(tx approvals.Tx) error { return tx.InsertKeySignature(c.k) }); !errors.Is(err, c.want) {
			t.Errorf("key signature %s: %v, want %v", name, err, c.want)
		}
	}
	view(t, db, func(tx approvals.ReadTx) error {
		if all, _ := tx.KeySignaturesAfter("", 10); keySigDigests(all) != "d-a,d-b,d-c" {
			t.Errorf("after the failed inserts: %q", keySigDigests(all))
		}
		return nil
	})
	if s.cfg.exec == nil {
		return
	}
	// Append-only in the database itself, whatever code runs against it.
	for _, stmt := range []string{"UPDATE key_signatures SET fingerprint = 'evil'", "DELETE FROM key_signatures"} {
		if err := s.cfg.exec(t, db, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want it refused", stmt, err)
		}
	}
	view(t, db, func(tx approvals.ReadTx) error {
		all, _ := tx.KeySignaturesAfter("", 10)
		if keySigDigests(all) != "d-a,d-b,d-c" || all[2].Fingerprint != ks1.Fingerprint {
			t.Errorf("after the refused statements: %+v", all)
		}
		return nil
	})
}

// templatesRequireKeySignature: the flag is stored and read with the
// template, changed by UpdateTemplate, and kept in each version's terms.
func (s *suite) templatesRequireKeySignature(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		return tx.InsertTemplate(approvals.Template{Key: "prod", AppID: "app1", Title: "Prod", Type: approvals.TypeApprove, Quorum: 1, Approvers: []string{"bob"},
			DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour, RequireKeySignature: true})
	})
	read := func(key string) approvals.Template {
		var tm approvals.Template
		view(t, db, func(tx approvals.ReadTx) error {
			var err error
			tm, err = tx.Template(key)
			return err
		})
		return tm
	}
	if tm := read("prod"); !tm.RequireKeySignature {
		t.Errorf("inserted with RequireKeySignature, read back without: %+v", tm)
	}
	if tm := read("k8s"); tm.RequireKeySignature {
		t.Errorf("a template never asked for it requires a key signature: %+v", tm)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		tms, err := tx.Templates("", 10)
		for _, tm := range tms {
			if tm.RequireKeySignature != (tm.Key == "prod") {
				t.Errorf("template list: %s RequireKeySignature %v", tm.Key, tm.RequireKeySignature)
			}
		}
		return err
	})
	update(t, db, func(tx approvals.Tx) error {
		tm, err := tx.Template("prod")
		if err != nil {
			return err
		}
		tm.Version, tm.RequireKeySignature = 2, false
		if err := tx.UpdateTemplate(tm, "alice", base.Add(time.Hour)); err != nil {
			return err
		}
		k8s, err := tx.Template("k8s")
		if err != nil {
			return err
		}
		k8s.Version, k8s.RequireKeySignature = 2, true
		return tx.UpdateTemplate(k8s, "alice", base.Add(time.Hour))
	})
	if tm := read("prod"); tm.RequireKeySignature || tm.Version != 2 {
		t.Errorf("updated to not require it: %+v", tm)
	}
	if tm := read("k8s"); !tm.RequireKeySignature {
		t.Errorf("updated to require it: %+v", tm)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		v1, err := tx.TemplateVersion("prod", 1)
		if err != nil || !v1.RequireKeySignature {
			t.Errorf("version 1's terms: %+v %v", v1, err)
		}
		v2, err := tx.TemplateVersion("prod", 2)
		if err != nil || v2.RequireKeySignature {
			t.Errorf("version 2's terms: %+v %v", v2, err)
		}
		return nil
	})
}
