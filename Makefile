# superwatch: build, test, install.
#   make install PREFIX=/usr/local      release binary, man pages, bash/zsh/fish completions
#   make install DESTDIR=/tmp/pkg       stage into a package root
#   make uninstall PREFIX=/usr/local    remove what install put there
# BINARY=path/to/superwatch installs that binary instead of building one.

PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
# The installed binary carries the Swift runtime and Foundation inside it: one file, and `superwatch status` starts
# in half the time (no dynamic loading of the Swift libraries; bench/status.sh, bench/RESULTS.md).
RELEASE_FLAGS ?= --static-swift-stdlib

BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
BASH_COMPLETIONS = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSH_COMPLETIONS = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISH_COMPLETIONS = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

ifeq ($(origin BINARY),undefined)
BINARY = $(shell $(SWIFT) build -c release $(RELEASE_FLAGS) $(SWIFT_BUILD_FLAGS) --show-bin-path)/superwatch
BUILD = build
endif

.PHONY: all build test install uninstall

all: build

build:
	$(SWIFT) build -c release $(RELEASE_FLAGS) $(SWIFT_BUILD_FLAGS) --product superwatch

test:
	$(SWIFT) test $(SWIFT_BUILD_FLAGS)

install: $(BUILD)
	install -d "$(BINDIR)" "$(MANDIR)/man1" "$(MANDIR)/man5" \
		"$(BASH_COMPLETIONS)" "$(ZSH_COMPLETIONS)" "$(FISH_COMPLETIONS)"
	install -m 755 "$(BINARY)" "$(BINDIR)/superwatch"
	install -m 644 man/superwatch.1 "$(MANDIR)/man1/superwatch.1"
	install -m 644 man/superwatch.yaml.5 "$(MANDIR)/man5/superwatch.yaml.5"
	"$(BINARY)" --generate-completion-script bash > "$(BASH_COMPLETIONS)/superwatch"
	"$(BINARY)" --generate-completion-script zsh > "$(ZSH_COMPLETIONS)/_superwatch"
	"$(BINARY)" --generate-completion-script fish > "$(FISH_COMPLETIONS)/superwatch.fish"

uninstall:
	rm -f "$(BINDIR)/superwatch" "$(MANDIR)/man1/superwatch.1" "$(MANDIR)/man5/superwatch.yaml.5" \
		"$(BASH_COMPLETIONS)/superwatch" "$(ZSH_COMPLETIONS)/_superwatch" "$(FISH_COMPLETIONS)/superwatch.fish"
