#!/usr/bin/env bash
# Builds the container images the course needs (shared/course/SCENARIO.md)
# into docker-archive tars under _output/images/, and imports them into the
# containerd of the cluster hack/up.sh runs. Nothing comes from a registry:
#
#   localhost/monolith:1.0.0, localhost/auth:1.0.0 and 2.0.0,
#   localhost/hello:1.0.0 and 2.0.0
#                 the course's Go programs, static, each alone in an image
#                 with no base (2.0.0 differs only in what /version answers)
#   localhost/nginx:1.22
#                 Debian's nginx and the libraries it needs, unpacked from
#                 their .deb files, plus busybox (sh, ls, cat, tar, wget, ...)
#                 so that `kubectl exec -it ... -- sh` and `kubectl cp` work;
#                 runs `nginx -g 'daemon off;'`, logs to stdout/stderr and
#                 serves a page on :80 unless /etc/nginx/conf.d is replaced
#   localhost/tools:1.0
#                 busybox alone (sh, wget, nslookup, nc, tar, ...), for
#                 `kubectl run --rm -it tools --image=localhost/tools:1.0 -- sh`
#
# (The pod sandbox image is not here: navarch carries it.)
#
#   ./hack/build-images.sh [--import | --no-import] [IMAGE...]
#
# IMAGE is monolith, auth, hello, nginx or tools; default all of them.
# Each build is reproducible (same inputs, same archive bytes): an archive
# whose bytes did not change is left untouched, and an image containerd
# already has with the same content is not imported again. By default the
# archives are imported when the cluster's containerd answers and skipped
# (saying so) when it does not; --import makes that an error, --no-import
# only builds.
#
# The .deb files are downloaded once with `apt-get download` (Debian's
# mirror is the only network used) into a cache, so later runs need no
# network; `rm -rf _output/debs` picks up newer package versions.
#
# Needs root (files in the images must be owned by root, and importing
# talks to containerd). Exits 3 when a package cannot be downloaded.
#
# Environment:
#   NAVARCH_DATA_DIR    the cluster to import into (default /var/lib/navarch)
#   NAVARCH_BINARY      the navarch binary to use (default _output/navarch,
#                       built by hack/build.sh if missing)
#   NAVARCH_IMAGES_DIR  where the archives go (default _output/images)
#   NAVARCH_DEB_CACHE   where the .deb files are kept (default _output/debs)
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) fails the script too
cd "$(dirname "$0")/.."
umask 022

data_dir="${NAVARCH_DATA_DIR:-/var/lib/navarch}"
out_dir="${NAVARCH_IMAGES_DIR:-$PWD/_output/images}"
deb_cache="${NAVARCH_DEB_CACHE:-$PWD/_output/debs}"
bin="${NAVARCH_BINARY:-$PWD/_output/navarch}"

import=auto
images=()
for arg in "$@"; do
	case "$arg" in
	--import) import=always ;;
	--no-import) import=never ;;
	monolith | auth | hello | nginx | tools) images+=("$arg") ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "build-images: unknown argument $arg (images: monolith auth hello nginx tools)" >&2
		exit 2
		;;
	esac
done
if [[ ${#images[@]} -eq 0 ]]; then
	images=(monolith auth hello nginx tools)
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "build-images: run as root (the files in the images must be owned by root)" >&2
	exit 1
fi
if [[ ! -x "$bin" ]]; then
	./hack/build.sh >/dev/null
fi

# The course manifests name these tags (examples/course/kubernetes).
nginx_tag=localhost/nginx:1.22
tools_tag=localhost/tools:1.0

mkdir -p "$out_dir" "$deb_cache"
work=$(mktemp -d "$out_dir/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

built=()  # archives of this run, in order

# keep TMP FINAL: moves a freshly built archive into place unless FINAL
# already holds the same bytes, and records FINAL for the import.
keep() {
	local tmp=$1 final=$2 what=$3
	if [[ -f "$final" ]] && cmp -s "$tmp" "$final"; then
		rm -f "$tmp"
		echo "build-images: $what unchanged ($final)"
	else
		mv -f "$tmp" "$final"
		echo "build-images: built $what ($final, $(du -h "$final" | cut -f1))"
	fi
	built+=("$final")
}

# go_images VERSION PROGRAM...: course programs, static, each alone in an
# image with no base, answering VERSION on /version.
go_images() {
	local version=$1 prog
	shift
	mkdir -p "$work/$version"
	CGO_ENABLED=0 go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X github.com/navarch/navarch/examples/course/app.Version=$version" \
		-o "$work/$version/" "${@/#/./examples/course/cmd/}"
	for prog in "$@"; do
		"$bin" images build --binary "$work/$version/$prog" --path "/$prog" --tag "localhost/$prog:$version" \
			--port 80/tcp,81/tcp -o "$work/$prog-$version.tar"
		keep "$work/$prog-$version.tar" "$out_dir/$prog-$version.tar" "localhost/$prog:$version"
	done
}

# Packages whose contents serve installing packages and init scripts, not
# a running container: left out of the closures. (nginx depends on
# iproute2 for its init script, nginx-common on debconf for its
# configuration questions.)
excluded=" iproute2 debconf debconf-2.0 "

# deb_file PKG: prints the cached .deb of PKG, downloading it on first use.
deb_file() {
	local pkg=$1 f
	f=$(find "$deb_cache" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
	if [[ -z "$f" ]]; then
		local apt=(apt-get download -q -o APT::Sandbox::User=root "$pkg")
		if ! (cd "$deb_cache" && "${apt[@]}" >&2 || { apt-get update -qq >&2 && "${apt[@]}" >&2; }); then
			echo "build-images: cannot download the Debian package $pkg (apt-get download $pkg failed)" >&2
			exit 3
		fi
		f=$(find "$deb_cache" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
		[[ -n "$f" ]] || {
			echo "build-images: apt-get download $pkg left no ${pkg}_*.deb in $deb_cache" >&2
			exit 3
		}
	fi
	echo "$f"
}

# deps DEB: the Pre-Depends and Depends of a .deb, one group per line,
# alternatives separated by spaces, versions and architectures dropped.
deps() {
	{
		dpkg-deb -f "$1" Pre-Depends
		echo ,
		dpkg-deb -f "$1" Depends
	} | tr ',\n' '\n ' | sed -e 's/([^)]*)//g' -e 's/:[a-z0-9]*//g' -e 's/|/ /g' \
		-e 's/[[:space:]][[:space:]]*/ /g' -e 's/^ //' -e 's/ $//' | grep -v '^$' || true
}

# closure PKG...: prints the sorted .deb files of PKGs and everything they
# depend on, but the excluded packages. The first alternative of a
# dependency is taken unless another is already in or excluded; a virtual
# or unknown alternative is passed over for the next one.
closure() {
	local -A seen=()
	local queue=("$@") files=() pkg f group alt pick
	while [[ ${#queue[@]} -gt 0 ]]; do
		pkg=${queue[0]}
		queue=("${queue[@]:1}")
		[[ -n "${seen[$pkg]:-}" || "$excluded" == *" $pkg "* ]] && continue
		seen[$pkg]=1
		f=$(deb_file "$pkg")
		files+=("$f")
		while read -r group; do
			pick=""
			for alt in $group; do
				if [[ -n "${seen[$alt]:-}" || "$excluded" == *" $alt "* ]]; then
					pick=""
					continue 2
				fi
			done
			for alt in $group; do
				if compgen -G "$deb_cache/${alt}_*.deb" >/dev/null ||
					[[ $(apt-cache show --no-all-versions "$alt" 2>/dev/null) == Package:* ]]; then
					pick=$alt
					break
				fi
			done
			if [[ -z "$pick" ]]; then
				echo "build-images: $pkg needs one of ($group), and apt knows none of them" >&2
				exit 3
			fi
			queue+=("$pick")
		done < <(deps "$f")
	done
	printf '%s\n' "${files[@]}" | sort
}

# base_files ROOT: what any image with a shell needs: users and groups
# (root, www-data, nobody), name service switch, /root, /tmp, /run.
base_files() {
	local root=$1
	mkdir -p "$root/etc" "$root/root" "$root/tmp" "$root/run/lock" "$root/var"
	chmod 0700 "$root/root"
	chmod 1777 "$root/tmp"
	ln -sfn /run "$root/var/run"
	ln -sfn /run/lock "$root/var/lock"
	cat >"$root/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$root/etc/group" <<-'EOF'
		root:x:0:
		www-data:x:33:
		nogroup:x:65534:
	EOF
	cat >"$root/etc/nsswitch.conf" <<-'EOF'
		passwd: files
		group: files
		shadow: files
		hosts: files dns
		networks: files
		protocols: files
		services: files
	EOF
	chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
}

# add_busybox ROOT: Debian's static busybox at /bin/busybox, with a
# symlink for each applet where the tree has nothing of that name yet
# (busybox --install, run in the tree, leaves existing names alone).
add_busybox() {
	local root=$1 deb
	deb=$(deb_file busybox-static)
	mkdir -p "$work/busybox"
	dpkg-deb -x "$deb" "$work/busybox"
	mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
	install -m 0755 "$work/busybox/bin/busybox" "$root/bin/busybox"
	chroot "$root" /bin/busybox --install -s
	rm -f "$root/linuxrc"
}

nginx_image() {
	local root="$work/nginx-rootfs" debs deb version
	debs=$(closure nginx)
	mkdir -p "$root"
	for deb in $debs; do
		dpkg-deb -x "$deb" "$root"
	done
	echo "build-images: nginx from" $(for deb in $debs; do basename "$deb" .deb; done)
	version=$(dpkg-deb -f "$(deb_file nginx)" Version)
	if [[ "$version" != 1.22.* ]]; then
		echo "build-images: warning: Debian's nginx here is $version; the image is still tagged $nginx_tag, the tag the course manifests use" >&2
	fi
	# Documentation, init scripts and iconv modules are not needed to run.
	rm -rf "$root"/usr/share/{doc,man,info,lintian,vim,apport,bug} "$root"/etc/{init.d,logrotate.d,ufw,default} \
		"$root"/lib/systemd "$root"/usr/lib/*/gconv
	base_files "$root"
	add_busybox "$root"
	# Logs go to the container's output, where `kubectl logs` finds them.
	ln -sfn /dev/stdout "$root/var/log/nginx/access.log"
	ln -sfn /dev/stderr "$root/var/log/nginx/error.log"
	mkdir -p "$root/var/lib/nginx" "$root/var/www"
	# The page on :80 is a conf.d file, as in the upstream nginx image, so a
	# pod that mounts its own /etc/nginx/conf.d (the course's frontend and
	# secure-monolith) does not listen on :80 (secure-monolith's monolith
	# container does).
	cat >"$root/etc/nginx/conf.d/default.conf" <<-'EOF'
		server {
		    listen 80 default_server;
		    server_name _;
		    root /usr/share/nginx/html;
		    index index.html;
		    location / {
		        try_files $uri $uri/ =404;
		    }
		}
	EOF
	chmod 0644 "$root/etc/nginx/conf.d/default.conf"
	"$bin" images build --rootfs "$root" --tag "$nginx_tag" --cmd 'nginx,-g,daemon off;' \
		--port 80/tcp,443/tcp --stop-signal SIGQUIT -o "$work/nginx.tar"
	keep "$work/nginx.tar" "$out_dir/nginx-1.22.tar" "$nginx_tag (Debian nginx $version)"
}

tools_image() {
	local root="$work/tools-rootfs"
	mkdir -p "$root"
	base_files "$root"
	add_busybox "$root"
	"$bin" images build --rootfs "$root" --tag "$tools_tag" --cmd sh -o "$work/tools.tar"
	keep "$work/tools.tar" "$out_dir/tools-1.0.tar" "$tools_tag"
}

# One build of the .deb cache at a time (hack/up.sh and a test may run
# this together).
exec 9>"$deb_cache/.lock"
flock 9

v1=() v2=() # the Go programs to build at 1.0.0 and at 2.0.0
for image in "${images[@]}"; do
	case "$image" in
	monolith | auth | hello) v1+=("$image") ;;
	esac
	case "$image" in
	auth | hello) v2+=("$image") ;;
	esac
done
if [[ ${#v1[@]} -gt 0 ]]; then
	go_images 1.0.0 "${v1[@]}"
fi
if [[ ${#v2[@]} -gt 0 ]]; then
	go_images 2.0.0 "${v2[@]}"
fi
for image in "${images[@]}"; do
	case "$image" in
	nginx) nginx_image ;;
	tools) tools_image ;;
	esac
done

if [[ "$import" == never ]]; then
	exit 0
fi
if ! listing=$("$bin" images ls --data-dir "$data_dir" 2>&1); then
	if [[ "$import" == always ]]; then
		echo "build-images: cannot reach the containerd of $data_dir: $listing" >&2
		exit 1
	fi
	echo "build-images: not imported: no containerd answers for $data_dir (start the cluster with hack/up.sh)"
	exit 0
fi
for archive in "${built[@]}"; do
	# The image's id is the digest of its config, which the archive names.
	config=$(tar -xOf "$archive" manifest.json | sed -n 's/.*"Config":"\([0-9a-f]\{12\}\)[0-9a-f]*\.json".*/\1/p')
	tag=$(tar -xOf "$archive" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)"\].*/\1/p')
	if [[ -n "$config" ]] && awk -v tag="$tag" -v id="$config" \
		'NR > 1 && $2 == id { n = split($1, tags, ","); for (i = 1; i <= n; i++) if (tags[i] == tag) found = 1 } END { exit !found }' <<<"$listing"; then
		echo "build-images: $tag already imported"
		continue
	fi
	"$bin" images import --data-dir "$data_dir" "$archive"
done
