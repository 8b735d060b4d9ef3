// Package kubectltext decides, once at process start, whether this
// navarch process loads kubectl's message translations.
//
// kubectl's translation catalog (k8s.io/kubectl/pkg/util/i18n) is loaded
// by the first i18n.T call, and kubectl's packages call i18n.T while they
// are initialized, so every navarch process, whatever its subcommand,
// parsed the catalog at start: some 4 MB allocated and 30 ms, and the
// parsed catalog kept for the life of the process. Only kubectl uses it.
//
// Importing this package (blank) makes a process whose command line names
// a subcommand other than kubectl (navarch agent, server, images, version)
// skip the catalog; kubectl's text is then the English text it is written
// in, which none of these subcommands prints anyway. Any other command
// line, kubectl's included (navarch kubectl ..., a kubectl symlink,
// navarch --help), loads the catalog as kubectl itself does.
//
// Its init must run before any package that calls i18n.T is initialized.
// Go initializes packages in import-path order among those whose imports
// are done (the Go spec, "Package initialization"); this package imports
// nothing but i18n and the standard library, and its path sorts before
// k8s.io/..., so it runs right after i18n.
package kubectltext
