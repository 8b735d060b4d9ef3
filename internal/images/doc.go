// Package images builds OCI images from static binaries or root
// filesystem trees and loads image archives into containerd, without
// Docker and without a registry.
//
//   - WriteArchive / Build: a one-layer image, written as a
//     docker-archive tar, and (Build) imported. The layer is either one
//     static binary with no base, or a whole directory tree (a root
//     filesystem assembled from Debian packages by hack/build-images.sh,
//     say) packed reproducibly: same tree, same bytes (rootfs.go). The
//     image config and references use go-containerregistry's types and
//     name parsing; the archive itself is written here in one pass (its
//     tarball/mutate packages would compress a large layer several times
//     and pull in more modules).
//   - Import: loads docker or OCI archives into containerd's "k8s.io"
//     namespace, where the CRI plugin (and so every pod) sees them.
//   - List: the images the runtime has, through CRI.
//   - PauseSpec, PauseTag, WriteEmbeddedPause: the pod sandbox ("pause")
//     image, built from the pause program navarch carries (pausebin).
//
// Import runs containerd's own `ctr` tool (shipped in Debian's containerd
// package next to containerd itself) rather than linking containerd's
// client library: ctr is proven against Debian's containerd 1.6 and the
// library would add about a hundred modules to the build. The seam is
// the Importer function type, so a library-backed importer can replace
// it without touching callers.
package images
