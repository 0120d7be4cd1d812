/*-------------------------------------------------------------------------
 *
 * sha256.c
 *		audit_guard_verify's side of the format's small interface
 *		(seal_format.h): SHA-256 from libcrypto, memory from malloc.
 *
 * The client never asks the server to hash anything; it links OpenSSL's
 * libcrypto itself.
 *
 *-------------------------------------------------------------------------
 */
#include "seal_format.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

/* Leave with status 2 (an error, not a finding). */
static void
die(const char *what)
{
	fprintf(stderr, "audit_guard_verify: %s\n", what);
	exit(2);
}

/* One SHA-256 over several pieces, reusing one context. */
void
ag_sha256(int nparts, const void *const *parts, const size_t *lens,
		  unsigned char out[AG_HASH_LEN])
{
	static EVP_MD_CTX *ctx = NULL;
	static const EVP_MD *md = NULL;
	int			i;

	if (ctx == NULL)
	{
		ctx = EVP_MD_CTX_new();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		/* fetched once: an implicit fetch on every init costs as much as a leaf */
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
		md = EVP_sha256();
#endif
		if (ctx == NULL || md == NULL)
			die("could not set up SHA-256 in libcrypto");
	}
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1)
		die("could not initialize SHA-256");
	for (i = 0; i < nparts; i++)
		if (EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
			die("could not compute SHA-256");
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		die("could not compute SHA-256");
}

/* Memory for seal_format.c; failure ends the program. */
void *
ag_fmt_alloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

void *
ag_fmt_realloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

void
ag_fmt_free(void *ptr)
{
	free(ptr);
}
