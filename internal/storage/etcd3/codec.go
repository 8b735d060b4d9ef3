package etcd3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// protobufPrefix opens every stored value: the magic of Kubernetes'
// protobuf encoding ("k8s" plus the envelope version 0), followed by a
// runtime.Unknown message carrying apiVersion, kind and the object's bytes.
// It is the format kube-apiserver writes to etcd, so tools that read
// Kubernetes' etcd (etcdctl plus auger, etcd-dump) read ours too.
const protobufPrefix = "k8s\x00"

// Field numbers of runtime.Unknown and runtime.TypeMeta in
// k8s.io/apimachinery/pkg/runtime/generated.proto.
const (
	unknownTypeMetaField        = 1
	unknownRawField             = 2
	unknownContentEncodingField = 3
	typeMetaAPIVersionField     = 1
	typeMetaKindField           = 2
)

// Codec encodes objects of a scheme in the Kubernetes protobuf envelope and
// decodes them back into typed objects. It is safe for concurrent use.
//
// Encode never modifies the object: the envelope's apiVersion and kind come
// from the scheme. Decode into a typed object unmarshals straight into it
// (no intermediate object, no copy of the payload); decoding with a nil
// into creates the type the envelope names. Either way the decoded object's
// TypeMeta is set. Objects are stored in the version they arrive in; there
// is no conversion.
type Codec struct {
	scheme *runtime.Scheme
}

var _ runtime.Codec = (*Codec)(nil)

// NewCodec returns the storage codec for the types registered in scheme.
func NewCodec(scheme *runtime.Scheme) *Codec {
	return &Codec{scheme: scheme}
}

// unmarshaler is what the generated protobuf code of every k8s.io/api type
// provides.
type unmarshaler interface {
	Reset()
	Unmarshal(data []byte) error
}

// Identifier implements runtime.Encoder.
func (c *Codec) Identifier() runtime.Identifier { return "navarch-etcd3-protobuf" }

// Encode writes obj's encoding to w.
func (c *Codec) Encode(obj runtime.Object, w io.Writer) error {
	data, err := c.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// Marshal returns obj's encoding in a new slice.
func (c *Codec) Marshal(obj runtime.Object) ([]byte, error) {
	return c.AppendMarshal(nil, obj)
}

// AppendMarshal appends obj's encoding to dst and returns the extended
// slice, growing it only when dst lacks the room: with a reused buffer an
// encoding allocates nothing.
func (c *Codec) AppendMarshal(dst []byte, obj runtime.Object) ([]byte, error) {
	envelope, body, size, err := c.envelopeOf(obj)
	if err != nil {
		return dst, err
	}
	n := encodedLen(&envelope, size)
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	buf := dst[start:]
	copy(buf, protobufPrefix)
	written, err := envelope.NestedMarshalTo(buf[len(protobufPrefix):], body, size)
	if err != nil {
		return dst[:start], fmt.Errorf("etcd3: encode %v: %w", schema.FromAPIVersionAndKind(envelope.APIVersion, envelope.Kind), err)
	}
	return dst[:start+len(protobufPrefix)+written], nil
}

// EncodedLen returns the length of obj's encoding without encoding it
// (protobuf sizes are computed by walking the object, allocating nothing).
func (c *Codec) EncodedLen(obj runtime.Object) (int, error) {
	envelope, _, size, err := c.envelopeOf(obj)
	if err != nil {
		return 0, err
	}
	return encodedLen(&envelope, size), nil
}

// envelopeOf returns the envelope obj is stored in (without the body),
// obj's protobuf marshaller and the size of its encoding.
func (c *Codec) envelopeOf(obj runtime.Object) (runtime.Unknown, runtime.ProtobufMarshaller, uint64, error) {
	gvk, err := c.kindOf(obj)
	if err != nil {
		return runtime.Unknown{}, nil, 0, err
	}
	body, ok := obj.(runtime.ProtobufMarshaller)
	if !ok {
		return runtime.Unknown{}, nil, 0, fmt.Errorf("etcd3: %T has no protobuf encoding", obj)
	}
	envelope := runtime.Unknown{TypeMeta: runtime.TypeMeta{
		APIVersion: gvk.GroupVersion().String(),
		Kind:       gvk.Kind,
	}}
	return envelope, body, uint64(body.Size()), nil
}

// encodedLen is the length of the prefix plus the envelope with a nested
// body of size bytes: the envelope's own fields, one tag byte and the
// varint length of the body, the body.
func encodedLen(envelope *runtime.Unknown, size uint64) int {
	return len(protobufPrefix) + envelope.Size() + 1 + protowire.SizeVarint(size) + int(size)
}

// kindOf picks the kind obj is stored as: the one its TypeMeta names if the
// scheme knows that, else the first the scheme registers for its Go type.
func (c *Codec) kindOf(obj runtime.Object) (schema.GroupVersionKind, error) {
	kinds, _, err := c.scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("etcd3: %w", err)
	}
	if set := obj.GetObjectKind().GroupVersionKind(); !set.Empty() {
		for _, k := range kinds {
			if k == set {
				return k, nil
			}
		}
	}
	return kinds[0], nil
}

// Decode implements runtime.Decoder. defaults is ignored: stored values
// always name their kind.
func (c *Codec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	apiVersion, kind, raw, err := parseEnvelope(data)
	if err != nil {
		return nil, nil, err
	}
	var gvk schema.GroupVersionKind
	if into == nil {
		gv, err := schema.ParseGroupVersion(string(apiVersion))
		if err != nil {
			return nil, nil, fmt.Errorf("etcd3: stored apiVersion: %w", err)
		}
		gvk = gv.WithKind(string(kind))
		if into, err = c.scheme.New(gvk); err != nil {
			return nil, &gvk, fmt.Errorf("etcd3: %w", err)
		}
	} else if gvk, err = c.matchKind(into, apiVersion, kind); err != nil {
		return nil, nil, err
	}
	if err := unmarshalInto(into, raw, gvk); err != nil {
		return nil, &gvk, err
	}
	return into, &gvk, nil
}

// DecodeInto decodes data into the typed object into. It is Decode without
// the allocations a runtime.Decoder's results cost, for the list path.
func (c *Codec) DecodeInto(data []byte, into runtime.Object) error {
	apiVersion, kind, raw, err := parseEnvelope(data)
	if err != nil {
		return err
	}
	gvk, err := c.matchKind(into, apiVersion, kind)
	if err != nil {
		return err
	}
	return unmarshalInto(into, raw, gvk)
}

// matchKind returns the kind of into's Go type that the stored
// apiVersion/kind name, comparing bytes so that nothing is allocated.
func (c *Codec) matchKind(into runtime.Object, apiVersion, kind []byte) (schema.GroupVersionKind, error) {
	kinds, _, err := c.scheme.ObjectKinds(into)
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("etcd3: %w", err)
	}
	for _, k := range kinds {
		if k.Kind == string(kind) && apiVersionIs(apiVersion, k.Group, k.Version) {
			return k, nil
		}
	}
	return schema.GroupVersionKind{}, fmt.Errorf("etcd3: stored %s %s does not decode into %T", apiVersion, kind, into)
}

func apiVersionIs(apiVersion []byte, group, version string) bool {
	if group == "" {
		return string(apiVersion) == version
	}
	return len(apiVersion) == len(group)+1+len(version) &&
		string(apiVersion[:len(group)]) == group &&
		apiVersion[len(group)] == '/' &&
		string(apiVersion[len(group)+1:]) == version
}

func unmarshalInto(into runtime.Object, raw []byte, gvk schema.GroupVersionKind) error {
	u, ok := into.(unmarshaler)
	if !ok {
		return fmt.Errorf("etcd3: %T has no protobuf decoding", into)
	}
	u.Reset()
	if err := u.Unmarshal(raw); err != nil {
		return fmt.Errorf("etcd3: decode %v: %w", gvk, err)
	}
	into.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}

var errNotProtobuf = errors.New("etcd3: stored value is not a Kubernetes protobuf envelope")

// parseEnvelope splits a stored value into the apiVersion and kind of its
// runtime.Unknown envelope and the object's bytes. The results alias data.
func parseEnvelope(data []byte) (apiVersion, kind, raw []byte, err error) {
	if !bytes.HasPrefix(data, []byte(protobufPrefix)) {
		return nil, nil, nil, errNotProtobuf
	}
	msg := data[len(protobufPrefix):]
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, nil, nil, fmt.Errorf("etcd3: envelope: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return nil, nil, nil, fmt.Errorf("etcd3: envelope: %w", protowire.ParseError(n))
			}
			msg = msg[n:]
			continue
		}
		value, n := protowire.ConsumeBytes(msg)
		if n < 0 {
			return nil, nil, nil, fmt.Errorf("etcd3: envelope: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		switch num {
		case unknownTypeMetaField:
			if apiVersion, kind, err = parseTypeMeta(value); err != nil {
				return nil, nil, nil, err
			}
		case unknownRawField:
			raw = value
		case unknownContentEncodingField:
			if len(value) > 0 {
				return nil, nil, nil, fmt.Errorf("etcd3: envelope: unsupported content encoding %q", value)
			}
		}
	}
	if len(kind) == 0 || len(apiVersion) == 0 {
		return nil, nil, nil, errors.New("etcd3: envelope names no apiVersion and kind")
	}
	return apiVersion, kind, raw, nil
}

func parseTypeMeta(msg []byte) (apiVersion, kind []byte, err error) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, nil, fmt.Errorf("etcd3: envelope type: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, msg)
		} else {
			var value []byte
			value, n = protowire.ConsumeBytes(msg)
			switch num {
			case typeMetaAPIVersionField:
				apiVersion = value
			case typeMetaKindField:
				kind = value
			}
		}
		if n < 0 {
			return nil, nil, fmt.Errorf("etcd3: envelope type: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
	}
	return apiVersion, kind, nil
}
