package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

type userRecord struct {
	PasswordHash []byte     `json:"password_hash"`
	Role         store.Role `json:"role"`
	CreatedAt    time.Time  `json:"created_at"`
	Disabled     bool       `json:"disabled,omitempty"`
	Township     string     `json:"township,omitempty"`
}

func toUserRecord(u store.User) userRecord {
	return userRecord{PasswordHash: u.PasswordHash, Role: u.Role, CreatedAt: u.CreatedAt, Disabled: u.Disabled, Township: u.Township}
}

type sessionRecord struct {
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateUser adds u; ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.Name == "" {
		return errors.New("boltstore: create user: empty name")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Name)) != nil {
			return fmt.Errorf("user %q: %w", u.Name, store.ErrExists)
		}
		v, err := json.Marshal(toUserRecord(u))
		if err != nil {
			return err
		}
		return b.Put([]byte(u.Name), v)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create user: %w", err)
	}
	return nil
}

// GetUser returns user name; ErrNotFound if unknown.
func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	if err := ctx.Err(); err != nil {
		return store.User{}, err
	}
	var u store.User
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
		}
		var err error
		u, err = decodeUser(name, v)
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("boltstore: get user: %w", err)
	}
	return u, nil
}

func decodeUser(name string, v []byte) (store.User, error) {
	var r userRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.User{}, fmt.Errorf("user %q: decode: %w", name, err)
	}
	return store.User{Name: name, PasswordHash: r.PasswordHash, Role: r.Role, CreatedAt: r.CreatedAt, Disabled: r.Disabled, Township: r.Township}, nil
}

// UpdateUser lets fn change user name and, when it changed anything,
// deletes the user's sessions in the same transaction. Sessions are keyed
// by token hash, so this walks them all: a township has a few dozen.
func (s *Store) UpdateUser(ctx context.Context, name string, fn func(*store.User) error) (store.User, error) {
	if err := ctx.Err(); err != nil {
		return store.User{}, err
	}
	var out store.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		v := b.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
		}
		old, err := decodeUser(name, v)
		if err != nil {
			return err
		}
		u := old
		u.PasswordHash = bytes.Clone(old.PasswordHash) // fn may write into it
		if err := fn(&u); err != nil {
			return err
		}
		u.Name, u.CreatedAt = old.Name, old.CreatedAt
		out = u
		if bytes.Equal(u.PasswordHash, old.PasswordHash) && u.Role == old.Role && u.Disabled == old.Disabled && u.Township == old.Township {
			return nil
		}
		nv, err := json.Marshal(toUserRecord(u))
		if err != nil {
			return err
		}
		if err := b.Put([]byte(name), nv); err != nil {
			return err
		}
		return deleteSessionsOf(tx, name)
	})
	if err != nil {
		return store.User{}, fmt.Errorf("boltstore: update user: %w", err)
	}
	return out, nil
}

// deleteSessionsOf removes every session of user. The keys are gathered
// first: deleting under a moving cursor can skip the next key.
func deleteSessionsOf(tx *bolt.Tx, user string) error {
	b := tx.Bucket(bucketSessions)
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r sessionRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("session %x: decode: %w", k, err)
		}
		if r.User == user {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete session of %q: %w", user, err)
		}
	}
	return nil
}

// ListUsers returns every user ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.User
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			u, err := decodeUser(string(k), v)
			out = append(out, u)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list users: %w", err)
	}
	return out, nil
}

// PutSession stores s under its token hash, replacing any session there.
func (s *Store) PutSession(ctx context.Context, sess store.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(sess.TokenHash) == 0 {
		return errors.New("boltstore: put session: empty token hash")
	}
	v, err := json.Marshal(sessionRecord{User: sess.User, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt})
	if err != nil {
		return fmt.Errorf("boltstore: put session: %w", err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Put(sess.TokenHash, v) }); err != nil {
		return fmt.Errorf("boltstore: put session: %w", err)
	}
	return nil
}

// GetSession returns the session of tokenHash, expired or not (expiry is
// the caller's rule); ErrNotFound if there is none.
func (s *Store) GetSession(ctx context.Context, tokenHash []byte) (store.Session, error) {
	if err := ctx.Err(); err != nil {
		return store.Session{}, err
	}
	var out store.Session
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get(tokenHash)
		if v == nil {
			return store.ErrNotFound
		}
		var r sessionRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		out = store.Session{TokenHash: append([]byte(nil), tokenHash...), User: r.User, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
		return nil
	})
	if err != nil {
		return store.Session{}, fmt.Errorf("boltstore: get session: %w", err)
	}
	return out, nil
}

// DeleteSession removes the session of tokenHash; an unknown token is not
// an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(tokenHash) == 0 {
		return nil
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete(tokenHash) }); err != nil {
		return fmt.Errorf("boltstore: delete session: %w", err)
	}
	return nil
}
