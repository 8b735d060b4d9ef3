package storage

import (
	"errors"
	"fmt"
)

// ErrorCode says what went wrong in a storage call; the API server maps
// each code to one HTTP status.
type ErrorCode int

const (
	// ErrCodeKeyNotFound: the key does not exist (404).
	ErrCodeKeyNotFound ErrorCode = iota + 1
	// ErrCodeKeyExists: Create found the key already present (409).
	ErrCodeKeyExists
	// ErrCodeResourceVersionConflict: a write lost to a newer one and may
	// not be retried by the store itself (409).
	ErrCodeResourceVersionConflict
	// ErrCodePreconditionFailed: a UID or resourceVersion precondition did
	// not hold (409).
	ErrCodePreconditionFailed
	// ErrCodeInvalidObj: the object could not be encoded or decoded (500).
	ErrCodeInvalidObj
	// ErrCodeExpired: the requested revision was compacted (410).
	ErrCodeExpired
	// ErrCodeResourceVersionTooLarge: the requested revision is newer than
	// the store (504, like upstream's "Too large resource version").
	ErrCodeResourceVersionTooLarge
	// ErrCodeInvalidContinue: a continue token could not be decoded (400).
	ErrCodeInvalidContinue
	// ErrCodeUnreachable: etcd did not answer (503).
	ErrCodeUnreachable
	// ErrCodeInvalidResourceVersion: a resourceVersion is not a revision
	// (not a decimal number) (400).
	ErrCodeInvalidResourceVersion
)

// Error is the error every Interface method returns for a storage-level
// failure.
type Error struct {
	Code ErrorCode
	Key  string
	// ResourceVersion is the revision involved, when there is one.
	ResourceVersion int64
	// Msg adds detail for humans; it may be empty.
	Msg string
}

func (e *Error) Error() string {
	var what string
	switch e.Code {
	case ErrCodeKeyNotFound:
		what = "key not found"
	case ErrCodeKeyExists:
		what = "key exists"
	case ErrCodeResourceVersionConflict:
		what = "resource version conflict"
	case ErrCodePreconditionFailed:
		what = "precondition failed"
	case ErrCodeInvalidObj:
		what = "invalid object"
	case ErrCodeExpired:
		what = "resource version expired"
	case ErrCodeResourceVersionTooLarge:
		what = "resource version too large"
	case ErrCodeInvalidContinue:
		what = "invalid continue token"
	case ErrCodeUnreachable:
		what = "etcd unreachable"
	case ErrCodeInvalidResourceVersion:
		what = "invalid resource version"
	default:
		what = fmt.Sprintf("error code %d", e.Code)
	}
	s := "storage: " + what
	if e.Key != "" {
		s += " (key " + e.Key + ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// NewError returns an *Error.
func NewError(code ErrorCode, key string, rv int64, msg string) *Error {
	return &Error{Code: code, Key: key, ResourceVersion: rv, Msg: msg}
}

// CodeOf returns the code of a storage *Error anywhere in err's chain, or 0.
func CodeOf(err error) ErrorCode {
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// IsNotFound reports whether err is an ErrCodeKeyNotFound.
func IsNotFound(err error) bool { return CodeOf(err) == ErrCodeKeyNotFound }

// IsExists reports whether err is an ErrCodeKeyExists.
func IsExists(err error) bool { return CodeOf(err) == ErrCodeKeyExists }

// IsConflict reports whether err is an ErrCodeResourceVersionConflict.
func IsConflict(err error) bool { return CodeOf(err) == ErrCodeResourceVersionConflict }

// IsExpired reports whether err is an ErrCodeExpired.
func IsExpired(err error) bool { return CodeOf(err) == ErrCodeExpired }
