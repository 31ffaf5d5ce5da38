// Package files embeds the static templates and scripts of the farm: fleet unit
// templates, the nginx configuration, the Vagrantfile, cloud-config and the shell scripts
// that the Pulumi commands run. Values from configuration never appear in these as source
// text: they reach the scripts through environment variables and the Vagrantfile through
// a JSON data file.
package files

import (
	"embed"
	"io/fs"
)

// FS contains every template and script.
//
//go:embed units/*.tmpl proxy/*.tmpl scripts/*.sh vagrant/*
var FS embed.FS

// Templates is the file system Read uses. It is FS, except in tests that show how a
// changed template flows through a preview.
var Templates fs.FS = FS

// Read returns the content of a template or script and panics when it is missing,
// which can only happen when the embed pattern and a caller disagree.
func Read(name string) string {
	data, err := fs.ReadFile(Templates, name)
	if err != nil {
		panic("files: " + err.Error())
	}
	return string(data)
}
