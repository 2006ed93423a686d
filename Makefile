# pag: build and install.
#
#   make                      build the workspace in release mode
#   make install              install (DESTDIR and PREFIX honoured)
#   make check                run the tests (the PAM and keyring tests need root)
#   make bench                run the PAM cycle benchmark (needs root)
#
# The module goes to the system's PAM module directory: pkg-config's
# `securedir` of pam where the .pc file has one, else the multiarch
# /lib/<triplet>/security (Debian's pam.pc has no securedir).

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/pag
SYSCONFDIR ?= /etc
CARGO      ?= cargo

MULTIARCH  := $(shell gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
SECUREDIR  ?= $(or $(shell pkg-config --variable=securedir pam 2>/dev/null),$(if $(MULTIARCH),/lib/$(MULTIARCH)/security,/lib/security))

# The module runs aklog from where this install puts it.
export PAM_PAG_AKLOG := $(BINDIR)/aklog

RELEASE    := target/release
BINARIES   := pagsh aklog tokens unlog pag

.PHONY: all build install check bench clean-install-test

all: build

build:
	$(CARGO) build --release --workspace
	@# pagsh is installed statically linked: it starts faster than keyctl(1)
	@# that way (bench/pagsh); see scripts/build-pagsh-static.
	scripts/build-pagsh-static >/dev/null

install: build
	install -D -m 0644 $(RELEASE)/libpam_pag.so $(DESTDIR)$(SECUREDIR)/pam_pag.so
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 target/static/release/pagsh $(DESTDIR)$(BINDIR)/pagsh
	@for b in $(filter-out pagsh,$(BINARIES)); do \
	    if [ -f $(RELEASE)/$$b ]; then \
	        echo "install -m 0755 $(RELEASE)/$$b $(DESTDIR)$(BINDIR)/$$b"; \
	        install -m 0755 $(RELEASE)/$$b $(DESTDIR)$(BINDIR)/$$b; \
	    else \
	        echo "not built (yet): $$b"; \
	    fi; \
	done
	install -D -m 0644 conf/pam_pag.toml $(DESTDIR)$(DOCDIR)/examples/pam_pag.toml
	install -D -m 0644 conf/pam.d/sshd $(DESTDIR)$(DOCDIR)/examples/pam.d/sshd
	install -D -m 0644 conf/pam.d/login $(DESTDIR)$(DOCDIR)/examples/pam.d/login
	install -D -m 0644 conf/pam.d/su-l $(DESTDIR)$(DOCDIR)/examples/pam.d/su-l
	install -D -m 0644 conf/pam-configs/pam_pag $(DESTDIR)$(DATADIR)/pam-configs/pam_pag
	@# The live configuration is the administrator's: never overwrite it.
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml ]; then \
	    echo "install -D -m 0644 conf/pam_pag.toml $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml"; \
	    install -D -m 0644 conf/pam_pag.toml $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml; \
	fi
	install -D -m 0644 man/pam_pag.8 $(DESTDIR)$(MANDIR)/man8/pam_pag.8
	install -D -m 0644 man/pam_pag.toml.5 $(DESTDIR)$(MANDIR)/man5/pam_pag.toml.5
	install -D -m 0644 man/pag.8 $(DESTDIR)$(MANDIR)/man8/pag.8
	for page in pagsh aklog tokens unlog; do \
	    install -D -m 0644 man/$$page.1 $(DESTDIR)$(MANDIR)/man1/$$page.1; \
	done

check:
	$(CARGO) test --workspace

bench:
	$(CARGO) build --release -p pam_pag -p pam-cycle
	$(RELEASE)/pam-cycle --module $(RELEASE)/libpam_pag.so
