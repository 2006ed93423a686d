# pag: build, install, package.
#
#   make                      build the workspace in release mode (needs cargo)
#   make install              copy what `make` built (DESTDIR honoured; never runs cargo,
#                             so `make && sudo make install` works with a rustup toolchain)
#   make uninstall            remove what `make install` put
#   make deb                  build target/deb/pag_<version>_<arch>.deb (PREFIX=/usr)
#   make check                run the tests (the PAM and keyring tests need root)
#   make bench                run the PAM cycle benchmark (needs root)
#
# PREFIX is a build-time setting too: the module runs the token program
# (pag's aklog) from $(LIBEXECDIR)/aklog, a path compiled into it. `make`
# records the PREFIX it built for in target/release/.prefix, and `make
# install` refuses another one rather than install a module that runs a
# program that is not there.
#
# The module goes to the system's PAM module directory: pkg-config's
# `securedir` of pam where the .pc file has one, else the multiarch
# /lib/<triplet>/security (Debian's pam.pc has no securedir).
#
# OpenAFS owns /usr/bin/aklog, tokens, unlog (and the pagsh alternative).
# So the programs go to $(LIBEXECDIR); $(BINDIR) gets pag-aklog, pag-tokens,
# pag-unlog, pag-pagsh always, and the plain names only where no other
# program of that name is on the system (/usr/bin, /bin): $(BINDIR)
# (/usr/local/bin) comes first in PATH and would shadow OpenAFS's silently.
# FORCE=1 installs the plain names anyway.

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/lib/pag/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/pag
SYSCONFDIR ?= /etc
# pam-auth-update reads profiles from here only, whatever PREFIX is.
PAMCONFIGS ?= /usr/share/pam-configs
# systemd reads units from here; pag-kcm's are installed, never enabled.
UNITDIR    ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
CARGO      ?= cargo
STRIP      ?= strip
FORCE      ?=

MULTIARCH  := $(shell gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
SECUREDIR  ?= $(or $(shell pkg-config --variable=securedir pam 2>/dev/null),$(if $(MULTIARCH),/lib/$(MULTIARCH)/security,/lib/security))

# The module runs aklog from where this install puts it.
export PAM_PAG_AKLOG := $(LIBEXECDIR)/aklog

RELEASE    := target/release
STAMP      := $(RELEASE)/.prefix
# The user's commands, which OpenAFS also has: in LIBEXECDIR, reached as
# pag-NAME and, where nothing else provides NAME, as NAME.
BINARIES   := pagsh aklog tokens unlog
# The administrator's command: no other package has it.
ADMIN      := pag
PROFILE    := pag

.PHONY: all build install uninstall deb check bench

all: build

build:
	$(CARGO) build --release --workspace
	@# pagsh is installed statically linked: it starts faster than keyctl(1)
	@# that way (bench/pagsh); see scripts/build-pagsh-static.
	scripts/build-pagsh-static >/dev/null
	@echo "$(PAM_PAG_AKLOG)" >$(STAMP)
	@echo "built for PREFIX=$(PREFIX) (the module runs $(PAM_PAG_AKLOG)); now: sudo make install PREFIX=$(PREFIX)"

# Only copies: no cargo here (sudo's PATH has none with a rustup toolchain).
install:
	@test -f $(STAMP) -a -f $(RELEASE)/libpam_pag.so -a -f target/static/release/pagsh || \
	    { echo "make install: nothing built yet; run \`make PREFIX=$(PREFIX)\` first (as yourself, not root)" >&2; exit 1; }
	@test "$$(cat $(STAMP))" = "$(PAM_PAG_AKLOG)" || \
	    { echo "make install: the build runs the token program from $$(cat $(STAMP)), this install puts it in $(PAM_PAG_AKLOG); run \`make PREFIX=$(PREFIX)\` first, or install with the PREFIX you built for" >&2; exit 1; }
	install -d $(DESTDIR)$(SECUREDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR)
	install -m 0644 $(RELEASE)/libpam_pag.so $(DESTDIR)$(SECUREDIR)/pam_pag.so
	$(STRIP) --strip-unneeded $(DESTDIR)$(SECUREDIR)/pam_pag.so
	install -s -m 0755 target/static/release/pagsh $(DESTDIR)$(LIBEXECDIR)/pagsh
	install -s -m 0755 $(RELEASE)/aklog $(RELEASE)/tokens $(RELEASE)/unlog $(DESTDIR)$(LIBEXECDIR)/
	@# aklog --renew's supervisor: internal, so no pag-* name.
	install -s -m 0755 $(RELEASE)/aklog-renewer $(DESTDIR)$(LIBEXECDIR)/
	install -s -m 0755 $(RELEASE)/$(ADMIN) $(DESTDIR)$(BINDIR)/$(ADMIN)
	@# The KCM daemon and its units (`systemctl enable --now pag-kcm.socket`).
	install -D -s -m 0755 $(RELEASE)/pag-kcm $(DESTDIR)$(SBINDIR)/pag-kcm
	sed 's#/usr/sbin/pag-kcm#$(SBINDIR)/pag-kcm#' conf/systemd/pag-kcm.service >pag-kcm.service.tmp
	install -D -m 0644 pag-kcm.service.tmp $(DESTDIR)$(UNITDIR)/pag-kcm.service
	rm -f pag-kcm.service.tmp
	install -D -m 0644 conf/systemd/pag-kcm.socket $(DESTDIR)$(UNITDIR)/pag-kcm.socket
	@for b in $(BINARIES); do \
	    ln -sfn $(LIBEXECDIR)/$$b $(DESTDIR)$(BINDIR)/pag-$$b; \
	    echo "$(BINDIR)/pag-$$b -> $(LIBEXECDIR)/$$b"; \
	    other=$$(for d in /usr/bin /bin; do [ -e $$d/$$b ] && [ "$$(readlink $$d/$$b)" != "$(LIBEXECDIR)/$$b" ] && echo $$d/$$b; done | head -1); \
	    if [ -n "$$other" ] && [ -z "$(FORCE)" ]; then \
	        echo "not installing $(BINDIR)/$$b: it would shadow $$other (OpenAFS's?); use pag-$$b, or FORCE=1"; \
	    else \
	        ln -sfn $(LIBEXECDIR)/$$b $(DESTDIR)$(BINDIR)/$$b; \
	        echo "$(BINDIR)/$$b -> $(LIBEXECDIR)/$$b"; \
	    fi; \
	done
	install -D -m 0644 conf/pam_pag.toml $(DESTDIR)$(DOCDIR)/examples/pam_pag.toml
	install -D -m 0644 conf/pam.d/sshd $(DESTDIR)$(DOCDIR)/examples/pam.d/sshd
	install -D -m 0644 conf/pam.d/login $(DESTDIR)$(DOCDIR)/examples/pam.d/login
	install -D -m 0644 conf/pam.d/su-l $(DESTDIR)$(DOCDIR)/examples/pam.d/su-l
	install -D -m 0644 conf/pam.d/runuser $(DESTDIR)$(DOCDIR)/examples/pam.d/runuser
	@# Default: no here: nothing changes until the administrator runs
	@# `pam-auth-update --enable pag` (the .deb enables it: installing it asks for it).
	install -d $(DESTDIR)$(PAMCONFIGS)
	sed 's/^Default: yes$$/Default: no/' conf/pam-configs/$(PROFILE) >$(DESTDIR)$(PAMCONFIGS)/$(PROFILE)
	chmod 0644 $(DESTDIR)$(PAMCONFIGS)/$(PROFILE)
	@# The live configuration is the administrator's: never overwrite it.
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml ]; then \
	    echo "install -D -m 0644 conf/pam_pag.toml $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml"; \
	    install -D -m 0644 conf/pam_pag.toml $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml; \
	fi
	install -D -m 0644 man/pam_pag.8 $(DESTDIR)$(MANDIR)/man8/pam_pag.8
	install -D -m 0644 man/pam_pag.toml.5 $(DESTDIR)$(MANDIR)/man5/pam_pag.toml.5
	install -D -m 0644 man/$(ADMIN).8 $(DESTDIR)$(MANDIR)/man8/$(ADMIN).8
	install -D -m 0644 man/pag-peer.7 $(DESTDIR)$(MANDIR)/man7/pag-peer.7
	install -D -m 0644 man/pag-kcm.8 $(DESTDIR)$(MANDIR)/man8/pag-kcm.8
	for page in $(BINARIES); do \
	    install -D -m 0644 man/$$page.1 $(DESTDIR)$(MANDIR)/man1/pag-$$page.1; \
	    if [ -L $(DESTDIR)$(BINDIR)/$$page ]; then ln -sfn pag-$$page.1 $(DESTDIR)$(MANDIR)/man1/$$page.1; fi; \
	done

# Removes what install put. The plain names only where they are our links;
# /etc/security/pam_pag.toml only while it is the shipped file unchanged (an
# edited one is the administrator's and stays, as dpkg keeps a modified
# conffile on remove). The profile is disabled first where it is enabled, so
# the common-* files do not name a module that is about to go.
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -e $(PAMCONFIGS)/$(PROFILE) ] && command -v pam-auth-update >/dev/null; then \
	    echo "pam-auth-update --package --remove $(PROFILE)"; \
	    pam-auth-update --package --remove $(PROFILE); \
	fi
	rm -f $(DESTDIR)$(PAMCONFIGS)/$(PROFILE)
	rm -f $(DESTDIR)$(SECUREDIR)/pam_pag.so
	@for b in $(BINARIES); do \
	    for link in $(DESTDIR)$(BINDIR)/$$b $(DESTDIR)$(BINDIR)/pag-$$b; do \
	        if [ "$$(readlink $$link)" = "$(LIBEXECDIR)/$$b" ]; then echo "rm $$link"; rm -f $$link; fi; \
	    done; \
	    rm -f $(DESTDIR)$(LIBEXECDIR)/$$b $(DESTDIR)$(MANDIR)/man1/pag-$$b.1; \
	    if [ "$$(readlink $(DESTDIR)$(MANDIR)/man1/$$b.1)" = "pag-$$b.1" ]; then rm -f $(DESTDIR)$(MANDIR)/man1/$$b.1; fi; \
	done
	rm -f $(DESTDIR)$(LIBEXECDIR)/aklog-renewer
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PREFIX)/lib/pag 2>/dev/null
	rm -f $(DESTDIR)$(BINDIR)/$(ADMIN) $(DESTDIR)$(MANDIR)/man8/$(ADMIN).8 $(DESTDIR)$(MANDIR)/man7/pag-peer.7
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_pag.8 $(DESTDIR)$(MANDIR)/man5/pam_pag.toml.5
	rm -f $(DESTDIR)$(SBINDIR)/pag-kcm $(DESTDIR)$(MANDIR)/man8/pag-kcm.8
	rm -f $(DESTDIR)$(UNITDIR)/pag-kcm.service $(DESTDIR)$(UNITDIR)/pag-kcm.socket
	rm -rf $(DESTDIR)$(DOCDIR)
	@if cmp -s conf/pam_pag.toml $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml; then \
	    echo "rm $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml"; rm -f $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml ]; then \
	    echo "kept $(DESTDIR)$(SYSCONFDIR)/security/pam_pag.toml: it differs from the shipped one (yours now)"; \
	fi

# A binary Debian package, built with dpkg-deb (scripts/build-deb).
deb:
	$(MAKE) build PREFIX=/usr
	scripts/build-deb

check:
	$(CARGO) test --workspace

bench:
	$(CARGO) build --release -p pam_pag -p pam-cycle
	$(RELEASE)/pam-cycle --module $(RELEASE)/libpam_pag.so
