package etcd3

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/storage"
)

// maxFilterChunk caps the page size List reads from etcd while a selector
// keeps discarding items, as upstream's apiserver does.
const maxFilterChunk = 10000

// List implements storage.Interface.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions, listObj runtime.Object) error {
	listMeta, err := meta.ListAccessor(listObj)
	if err != nil {
		return storage.NewError(storage.ErrCodeInvalidObj, prefix, 0, err.Error())
	}
	items, err := newItemAppender(listObj)
	if err != nil {
		return storage.NewError(storage.ErrCodeInvalidObj, prefix, 0, err.Error())
	}
	dir := directory(prefix)
	end := clientv3.GetPrefixRangeEnd(dir)
	pred := opts.Predicate
	if err := checkPredicate(prefix, pred); err != nil {
		return err
	}

	start := dir
	var (
		readRev      int64 // 0 until the first read fixes it
		minRev       int64 // the oldest acceptable revision for a newest read
		serializable bool
		continued    bool
	)
	if pred.Continue != "" {
		if opts.ResourceVersion != "" {
			return storage.NewError(storage.ErrCodeInvalidContinue, prefix, 0,
				"specifying a resourceVersion is not allowed with continue")
		}
		token, err := decodeContinue(pred.Continue)
		if err != nil {
			return storage.NewError(storage.ErrCodeInvalidContinue, prefix, 0, err.Error())
		}
		start, readRev, continued = dir+token.StartKey, token.ResourceVersion, true
	} else {
		rev, err := parseResourceVersion(prefix, opts.ResourceVersion)
		if err != nil {
			return err
		}
		switch {
		case opts.ResourceVersion == "0":
			serializable = true
		case rev > 0 && opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact:
			readRev = rev
		default:
			minRev = rev
		}
	}

	filtering := !pred.Empty()
	limit := pred.Limit
	if limit < 0 {
		limit = 0
	}
	chunk := limit
	var (
		hasMore   bool
		remaining int64  // known when not filtering
		lastKey   []byte // the last key read
		waited    bool
	)
	for {
		options := []clientv3.OpOption{clientv3.WithRange(end)}
		if readRev > 0 {
			options = append(options, clientv3.WithRev(readRev))
		}
		if serializable {
			options = append(options, clientv3.WithSerializable())
		}
		if chunk > 0 {
			options = append(options, clientv3.WithLimit(chunk))
		}
		resp, err := s.client.Get(ctx, start, options...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrFutureRev) && !waited {
				// An exact revision the store has not reached yet.
				waited = true
				if _, err := s.waitForRevision(ctx, prefix, readRev); err != nil {
					return err
				}
				continue
			}
			err = etcdError(ctx, prefix, readRev, err)
			if continued && storage.IsExpired(err) {
				return storage.NewError(storage.ErrCodeExpired, prefix, readRev,
					"the continue token is too old to list consistently; start a new list without it")
			}
			return err
		}
		if readRev == 0 {
			if resp.Header.Revision < minRev {
				if waited {
					return storage.NewError(storage.ErrCodeResourceVersionTooLarge, prefix, minRev, "")
				}
				waited = true
				if _, err := s.waitForRevision(ctx, prefix, minRev); err != nil {
					return err
				}
				continue
			}
			// Later pages read the state the first one saw.
			readRev = resp.Header.Revision
		}
		if !filtering {
			items.reserve(len(resp.Kvs))
		}
		taken := 0
		for _, kv := range resp.Kvs {
			if limit > 0 && int64(items.len()) >= limit {
				hasMore = true
				break
			}
			taken++
			lastKey = kv.Key
			obj := items.next()
			if err := s.decodeValue(kv.Value, kv.ModRevision, obj); err != nil {
				return storage.NewError(storage.ErrCodeInvalidObj, string(kv.Key), kv.ModRevision, err.Error())
			}
			if filtering {
				ok, err := pred.Matches(obj)
				if err != nil {
					return storage.NewError(storage.ErrCodeInvalidObj, string(kv.Key), kv.ModRevision, err.Error())
				}
				if !ok {
					continue
				}
			}
			items.keep()
		}
		full := limit > 0 && int64(items.len()) >= limit
		if hasMore || full || !resp.More {
			// A full list ending exactly at the page's end has more only
			// if the range does.
			hasMore = hasMore || (full && resp.More)
			remaining = resp.Count - int64(taken)
			break
		}
		// The selector left the page short: read on, in growing pages.
		start = string(lastKey) + "\x00"
		chunk = min(2*chunk, maxFilterChunk)
	}
	items.finish()

	listMeta.SetResourceVersion(strconv.FormatInt(readRev, 10))
	listMeta.SetContinue("")
	listMeta.SetRemainingItemCount(nil)
	if hasMore {
		token, err := encodeContinue(continueToken{
			APIVersion:      metav1.SchemeGroupVersion.String(),
			ResourceVersion: readRev,
			StartKey:        strings.TrimPrefix(string(lastKey), dir) + "\x00",
		})
		if err != nil {
			return storage.NewError(storage.ErrCodeInvalidObj, prefix, readRev, err.Error())
		}
		listMeta.SetContinue(token)
		if !filtering && remaining > 0 {
			listMeta.SetRemainingItemCount(&remaining)
		}
	}
	return nil
}

// directory returns prefix with the trailing slash that makes it a
// directory: "/registry/pods/default" must not match ".../default2/x".
func directory(prefix string) string {
	if strings.HasSuffix(prefix, "/") {
		return prefix
	}
	return prefix + "/"
}

// continueToken is what a continue string carries, in the shape upstream
// uses, so that its tokens and ours look alike.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	// StartKey is the first key of the next page, relative to the listed
	// directory, so a token cannot reach outside it.
	StartKey string `json:"start"`
}

func encodeContinue(t continueToken) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("etcd3: continue token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(data), nil
}

func decodeContinue(s string) (continueToken, error) {
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return continueToken{}, fmt.Errorf("etcd3: continue token is not base64: %w", err)
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil {
		return continueToken{}, fmt.Errorf("etcd3: continue token is not JSON: %w", err)
	}
	if t.APIVersion != metav1.SchemeGroupVersion.String() {
		return continueToken{}, fmt.Errorf("etcd3: continue token has version %q", t.APIVersion)
	}
	if t.ResourceVersion <= 0 || t.StartKey == "" {
		return continueToken{}, errors.New("etcd3: continue token has no revision or start key")
	}
	return t, nil
}

var runtimeObjectType = reflect.TypeFor[runtime.Object]()

// itemAppender fills a list's Items slice in place: items are decoded
// straight into the slice's elements, so a list of structs costs no
// allocation per item beyond what decoding the fields needs.
type itemAppender struct {
	items    reflect.Value // the Items slice, settable
	pointers bool          // Items is []*T rather than []T
	n        int           // items kept; the slice may hold one more being decoded
}

func newItemAppender(listObj runtime.Object) (*itemAppender, error) {
	ptr, err := meta.GetItemsPtr(listObj)
	if err != nil {
		return nil, err
	}
	items := reflect.ValueOf(ptr).Elem()
	elem := items.Type().Elem()
	a := &itemAppender{items: items}
	switch {
	case elem.Kind() == reflect.Struct && reflect.PointerTo(elem).Implements(runtimeObjectType):
	case elem.Kind() == reflect.Pointer && elem.Elem().Kind() == reflect.Struct && elem.Implements(runtimeObjectType):
		a.pointers = true
	default:
		return nil, fmt.Errorf("etcd3: %T has items of type %v, not API objects", listObj, elem)
	}
	// A new slice: the caller may still hold the elements of the old one.
	items.SetZero()
	return a, nil
}

func (a *itemAppender) len() int { return a.n }

// reserve makes room for n more items.
func (a *itemAppender) reserve(n int) {
	if a.items.Cap()-a.n >= n {
		return
	}
	grown := reflect.MakeSlice(a.items.Type(), a.n, a.n+n)
	reflect.Copy(grown, a.items.Slice(0, a.n))
	a.items.Set(grown)
}

// next returns the element to decode the next item into. It stays in the
// list only if keep is called before the next call to next.
func (a *itemAppender) next() runtime.Object {
	if a.n == a.items.Cap() {
		a.reserve(max(a.n, 8))
	}
	a.items.SetLen(a.n + 1)
	slot := a.items.Index(a.n)
	if a.pointers {
		if slot.IsNil() {
			slot.Set(reflect.New(slot.Type().Elem()))
		}
		return slot.Interface().(runtime.Object)
	}
	return slot.Addr().Interface().(runtime.Object)
}

func (a *itemAppender) keep() { a.n++ }

// finish drops an element that was decoded but not kept.
func (a *itemAppender) finish() {
	if a.items.Len() > a.n {
		a.items.Index(a.n).SetZero()
	}
	a.items.SetLen(a.n)
}
