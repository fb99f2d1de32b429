// render: a small, faithful stand-in for `helm template` (no helm binary on
// the test machines). It uses Helm's engine the way Helm 3 does
// (helm.sh/helm/v3/pkg/engine):
//
//   - Go text/template with sprig's TxtFuncMap minus "env" and "expandenv",
//     plus Helm's own functions: include, tpl, required, toYaml, fromYaml,
//     fromYamlArray, toJson, fromJson, fromJsonArray, fail, lookup (always
//     empty, as in `helm template`);
//   - Option("missingkey=zero"), and "<no value>" removed from the output;
//   - every file under templates/ parsed into one template set named
//     "<chart>/templates/<file>"; files whose name starts with "_" are not
//     rendered (partials), nor NOTES.txt;
//   - values: values.yaml, then each -f file, then each --set, coalesced
//     (maps merged deeply, null deletes a key); YAML read the way Helm reads
//     it (sigs.k8s.io/yaml semantics: numbers are float64);
//   - .Release (Name, Namespace, Service "Helm", IsInstall, IsUpgrade,
//     Revision), .Chart (Chart.yaml with Helm's capitalised names),
//     .Capabilities (KubeVersion, APIVersions.Has), .Template (Name,
//     BasePath), .Files (Get) — what templates of this chart can reach.
//
// Output: like `helm template`, each document as "---\n# Source: <name>\n…".
// With --output-dir, the stream is written to <dir>/manifest.yaml.
//
// Build (GOPATH mode, Debian's packaged sprig and ghodss/yaml):
//   GO111MODULE=off GOPATH=/usr/share/gocode go build -o render ./test/chart/render
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ---- values ------------------------------------------------------------------

func readYamlMap(file string) (map[string]interface{}, error) {
	b, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// coalesce merges src over dst (Helm's CoalesceTables for user values: a
// map merges into a map, anything else replaces, null deletes).
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

// typedValue types a --set value as Helm's strvals does: integers become
// int64, true/false booleans, null nil; everything else stays a string.
func typedValue(v string) interface{} {
	switch v {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(v, 10, 64); err == nil && (v == "0" || !strings.HasPrefix(v, "0")) {
		return i
	}
	return v
}

// applySet applies "a.b=c,d=e" (no escapes, no list indexes: what the tests
// use) onto values.
func applySet(values map[string]interface{}, expr string) error {
	for _, kv := range strings.Split(expr, ",") {
		eq := strings.IndexByte(kv, '=')
		if eq <= 0 {
			return fmt.Errorf("--set %q: want key=value", kv)
		}
		keys := strings.Split(kv[:eq], ".")
		m := values
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				m[k] = next
			}
			m = next
		}
		last := keys[len(keys)-1]
		if v := typedValue(kv[eq+1:]); v == nil {
			delete(m, last)
		} else {
			m[last] = v
		}
	}
	return nil
}

// ---- Helm's template functions -------------------------------------------------

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "" // Helm swallows the error here too
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(str string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type kubeVersion struct {
	Version, Major, Minor, GitVersion string
}

func (k kubeVersion) String() string { return k.Version }

type files map[string][]byte

func (f files) Get(name string) string { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

// ---- the engine --------------------------------------------------------------------

type engine struct {
	tmpl     *template.Template
	chart    string
	topValue map[string]interface{}
}

func (e *engine) funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toToml":        func(interface{}) string { return "" },
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warn)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warn)
			}
			return val, nil
		},
		"fail": func(msg string) (string, error) { return "", errors.New(msg) },
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		// Replaced per template set below (they need the set itself).
		"include": func(string, interface{}) (string, error) { return "", nil },
		"tpl":     func(string, interface{}) (string, error) { return "", nil },
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

const recursionMaxNums = 1000

func (e *engine) installIncludeTpl() {
	includedNames := map[string]int{}
	funcs := template.FuncMap{}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if v, ok := includedNames[name]; ok {
			if v > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			includedNames[name]++
		} else {
			includedNames[name] = 1
		}
		err := e.tmpl.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
	funcs["tpl"] = func(tpl string, vals interface{}) (string, error) {
		t, err := e.tmpl.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(tpl)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", tpl, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	e.tmpl.Funcs(funcs)
}

func chartMetadata(dir string) (map[string]interface{}, string, error) {
	raw, err := readYamlMap(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, "", err
	}
	// Helm's chart.Metadata, by its Go field names.
	names := map[string]string{
		"name": "Name", "home": "Home", "sources": "Sources", "version": "Version",
		"description": "Description", "keywords": "Keywords", "maintainers": "Maintainers",
		"icon": "Icon", "apiVersion": "APIVersion", "condition": "Condition", "tags": "Tags",
		"appVersion": "AppVersion", "deprecated": "Deprecated", "annotations": "Annotations",
		"kubeVersion": "KubeVersion", "dependencies": "Dependencies", "type": "Type",
	}
	md := map[string]interface{}{}
	for _, v := range names {
		md[v] = ""
	}
	for k, v := range raw {
		n, ok := names[k]
		if !ok {
			return nil, "", fmt.Errorf("Chart.yaml: unknown field %q", k)
		}
		md[n] = v
	}
	name, _ := md["Name"].(string)
	if name == "" {
		return nil, "", errors.New("Chart.yaml: name is required")
	}
	if md["APIVersion"] != "v2" {
		return nil, "", fmt.Errorf("Chart.yaml: apiVersion must be v2, got %v", md["APIVersion"])
	}
	if v, _ := md["Version"].(string); v == "" {
		return nil, "", errors.New("Chart.yaml: version is required")
	}
	return md, name, nil
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

func run() error {
	var valueFiles, sets multiFlag
	flag.Var(&valueFiles, "f", "values file merged over values.yaml (repeatable)")
	flag.Var(&sets, "set", "a.b=c[,d=e] (repeatable)")
	name := flag.String("name", "xvr", "release name")
	ns := flag.String("namespace", "kube-system", "release namespace")
	kv := flag.String("kube-version", "v1.28.0", "Capabilities.KubeVersion")
	outDir := flag.String("output-dir", "", "write manifest.yaml here instead of stdout")
	flag.Parse()
	if flag.NArg() != 1 {
		return errors.New("usage: render [-f values.yaml]... [--set a.b=c]... [--output-dir D] CHART_DIR")
	}
	dir := flag.Arg(0)

	md, chartName, err := chartMetadata(dir)
	if err != nil {
		return err
	}
	values, err := readYamlMap(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range valueFiles {
		m, err := readYamlMap(f)
		if err != nil {
			return err
		}
		values = coalesce(values, m)
	}
	for _, s := range sets {
		if err := applySet(values, s); err != nil {
			return err
		}
	}

	ver := strings.TrimPrefix(*kv, "v")
	parts := strings.SplitN(ver, ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("--kube-version %q: want vMAJOR.MINOR[.PATCH]", *kv)
	}
	caps := map[string]interface{}{
		"KubeVersion": kubeVersion{Version: *kv, Major: parts[0], Minor: parts[1], GitVersion: *kv},
		"APIVersions": apiVersions{"v1", "apps/v1", "rbac.authorization.k8s.io/v1",
			"apiextensions.k8s.io/v1", "discovery.k8s.io/v1", "networking.k8s.io/v1"},
		"HelmVersion": map[string]interface{}{"Version": "v3.14.0"},
	}
	release := map[string]interface{}{
		"Name": *name, "Namespace": *ns, "Service": "Helm",
		"IsInstall": true, "IsUpgrade": false, "Revision": 1,
	}

	// Every file of the chart for .Files, every template for the set.
	fileMap := files{}
	var templateNames []string
	e := &engine{chart: chartName}
	e.tmpl = template.New("gotpl").Option("missingkey=zero").Funcs(e.funcMap())
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		b, err := ioutil.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(rel, "templates/") {
			fileMap[rel] = b
			return nil
		}
		tname := path.Join(chartName, rel)
		if _, err := e.tmpl.New(tname).Parse(string(b)); err != nil {
			return err
		}
		templateNames = append(templateNames, tname)
		return nil
	})
	if err != nil {
		return err
	}
	e.installIncludeTpl()
	sort.Strings(templateNames)

	var out bytes.Buffer
	for _, tname := range templateNames {
		base := path.Base(tname)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		data := map[string]interface{}{
			"Values":       values,
			"Release":      release,
			"Chart":        md,
			"Capabilities": caps,
			"Files":        fileMap,
			"Template":     map[string]interface{}{"Name": tname, "BasePath": path.Join(chartName, "templates")},
		}
		var buf strings.Builder
		if err := e.tmpl.ExecuteTemplate(&buf, tname, data); err != nil {
			return fmt.Errorf("render %s: %v", tname, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		for _, doc := range docSep.Split(text, -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname, strings.Trim(doc, "\n"))
		}
	}
	if *outDir == "" {
		_, err = os.Stdout.Write(out.Bytes())
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	return ioutil.WriteFile(filepath.Join(*outDir, "manifest.yaml"), out.Bytes(), 0o644)
}

// stripComments drops whole-line comments, to tell an empty document (only
// comments, as an `if` that rendered nothing leaves) from a real one.
func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}
