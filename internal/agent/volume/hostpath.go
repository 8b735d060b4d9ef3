package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath validates a hostPath volume's path and applies its type
// as the kubelet does: the *OrCreate types create what is missing
// (createMode for a directory), the others require the path to exist
// with that type. Messages are upstream's.
func checkHostPath(path string, pathType *corev1.HostPathType, createMode os.FileMode) error {
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return fmt.Errorf("invalid HostPath `%s`: must not contain '..'", path)
		}
	}
	t := corev1.HostPathUnset
	if pathType != nil {
		t = *pathType
	}
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists(path) {
			if err := os.MkdirAll(path, createMode); err != nil {
				return err
			}
			// MkdirAll's mode is filtered by the umask.
			return os.Chmod(path, createMode)
		}
		return typeMatches(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathDirectory:
		return typeMatches(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathFileOrCreate:
		if !exists(path) {
			f, err := os.OpenFile(path, os.O_CREATE, 0o644)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if f != nil {
				f.Close()
			}
			return nil
		}
		return typeMatches(path, corev1.HostPathFile, "file")
	case corev1.HostPathFile:
		return typeMatches(path, corev1.HostPathFile, "file")
	case corev1.HostPathSocket:
		return typeMatches(path, corev1.HostPathSocket, "socket file")
	case corev1.HostPathCharDev:
		return typeMatches(path, corev1.HostPathCharDev, "character device")
	case corev1.HostPathBlockDev:
		return typeMatches(path, corev1.HostPathBlockDev, "block device")
	}
	return fmt.Errorf("%s is an invalid volume type", t)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func typeMatches(path string, want corev1.HostPathType, description string) error {
	if !exists(path) {
		return fmt.Errorf("hostPath %s doesn't exist", path)
	}
	got, err := fileType(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", path, description, err)
	}
	if got != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", path, description, got)
	}
	return nil
}

// fileType is the hostPath type of what path is (symlinks followed).
func fileType(path string) (corev1.HostPathType, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return corev1.HostPathDirectory, nil
	case mode.IsRegular():
		return corev1.HostPathFile, nil
	case mode&os.ModeSocket != 0:
		return corev1.HostPathSocket, nil
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice != 0:
		return corev1.HostPathCharDev, nil
	case mode&os.ModeDevice != 0:
		return corev1.HostPathBlockDev, nil
	}
	return "", fmt.Errorf("only recognise file, directory, socket, block device and character device")
}
