#include <krb5.h>
/* profile_* (krb5.conf lookups) are exported by libkrb5; <krb5.h> only names the type. */
#include <profile.h>
