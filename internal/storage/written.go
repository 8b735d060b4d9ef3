package storage

import "context"

// writtenKey marks a context whose caller accepts the written object as the
// result of a write (WithWrittenResult).
type writtenKey struct{}

// WithWrittenResult returns a context under which Create and
// GuaranteedUpdate may fill out with the object they just encoded and
// wrote (Create's obj, or what tryUpdate returned) instead of decoding the
// stored bytes back: a copy of its top-level struct with the new
// resourceVersion and the stored kind set, sharing everything else with
// that object. It saves the decode of every write.
//
// What the caller gets is what the stored bytes decode to once encoded in
// protobuf, but not field for field: times keep their sub-second part and
// location (protobuf stores whole seconds), and empty slices and maps stay
// empty where a decode gives nil (which JSON tells apart on fields without
// omitempty). So ask for it only when out is dropped, or encoded in
// protobuf and otherwise read only for what those differences do not
// change. Neither the object handed to the store nor out may be modified
// afterwards, since they share memory.
//
// Stores that do not know the option decode as usual; so does Delete.
func WithWrittenResult(ctx context.Context) context.Context {
	return context.WithValue(ctx, writtenKey{}, true)
}

// WrittenResultOK tells whether ctx carries WithWrittenResult.
func WrittenResultOK(ctx context.Context) bool {
	ok, _ := ctx.Value(writtenKey{}).(bool)
	return ok
}
