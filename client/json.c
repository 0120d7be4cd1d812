/*-------------------------------------------------------------------------
 *
 * json.c
 *		A small JSON reader for audit_guard_verify's digest files.
 *
 * The digest is read here, in the client, and not by the server: a server
 * that parsed it could answer with the hashes its own chains have.  The
 * reader accepts RFC 8259 JSON (objects, arrays, strings with escapes,
 * numbers, true, false, null) and builds a tree; only what a digest needs
 * is offered to the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The reader's position and first error. */
typedef struct Reader
{
	const char *p;
	const char *end;
	const char *error;
	int			depth;
} Reader;

static JsonValue *parse_value(Reader *r);

/* Memory that never fails quietly. */
static void *
json_alloc(size_t size)
{
	void	   *p = calloc(1, size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "audit_guard_verify: out of memory\n");
		exit(2);
	}
	return p;
}

/* Skip white space. */
static void
skip_space(Reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
							 *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

/* Record the first error; returns NULL for the caller to pass on. */
static JsonValue *
fail(Reader *r, const char *error)
{
	if (r->error == NULL)
		r->error = error;
	return NULL;
}

/* Append the UTF-8 form of code point cp. */
static size_t
put_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xE0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* Four hex digits of a \u escape, or -1. */
static long
hex4(Reader *r)
{
	long		v = 0;
	int			i;

	if (r->end - r->p < 4)
		return -1;
	for (i = 0; i < 4; i++)
	{
		char		c = r->p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	r->p += 4;
	return v;
}

/* A string, the opening quote already seen; NULL on error. */
static char *
parse_string(Reader *r)
{
	/* the decoded string is never longer than the source */
	char	   *out = json_alloc((size_t) (r->end - r->p) + 1);
	size_t		n = 0;

	while (r->p < r->end && *r->p != '"')
	{
		char		c = *r->p++;

		if ((unsigned char) c < 0x20)
		{
			free(out);
			fail(r, "control character in a string");
			return NULL;
		}
		if (c != '\\')
		{
			out[n++] = c;
			continue;
		}
		if (r->p >= r->end)
			break;
		c = *r->p++;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				out[n++] = c;
				break;
			case 'b':
				out[n++] = '\b';
				break;
			case 'f':
				out[n++] = '\f';
				break;
			case 'n':
				out[n++] = '\n';
				break;
			case 'r':
				out[n++] = '\r';
				break;
			case 't':
				out[n++] = '\t';
				break;
			case 'u':
				{
					long		cp = hex4(r);

					if (cp >= 0xD800 && cp < 0xDC00 && r->end - r->p >= 6 &&
						r->p[0] == '\\' && r->p[1] == 'u')
					{
						long		lo;

						r->p += 2;
						lo = hex4(r);
						if (lo < 0xDC00 || lo > 0xDFFF)
							cp = -1;
						else
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					if (cp <= 0 || (cp >= 0xD800 && cp < 0xE000))
					{
						free(out);
						fail(r, "bad \\u escape in a string");
						return NULL;
					}
					n += put_utf8(out + n, (unsigned long) cp);
					break;
				}
			default:
				free(out);
				fail(r, "bad escape in a string");
				return NULL;
		}
	}
	if (r->p >= r->end)
	{
		free(out);
		fail(r, "unterminated string");
		return NULL;
	}
	r->p++;						/* the closing quote */
	out[n] = '\0';
	return out;
}

/* A number: kept as its text, and as a double. */
static JsonValue *
parse_number(Reader *r)
{
	const char *start = r->p;
	JsonValue  *v;
	char	   *text;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p >= r->end || !isdigit((unsigned char) *r->p))
		return fail(r, "bad number");
	while (r->p < r->end && (isdigit((unsigned char) *r->p) || *r->p == '.' ||
							 *r->p == 'e' || *r->p == 'E' || *r->p == '+' ||
							 *r->p == '-'))
		r->p++;
	text = json_alloc((size_t) (r->p - start) + 1);
	memcpy(text, start, (size_t) (r->p - start));
	v = json_alloc(sizeof(JsonValue));
	v->type = JSON_NUMBER;
	v->string = text;
	return v;
}

/* A literal word: true, false or null. */
static JsonValue *
parse_word(Reader *r, const char *word, JsonType type)
{
	size_t		len = strlen(word);
	JsonValue  *v;

	if ((size_t) (r->end - r->p) < len || memcmp(r->p, word, len) != 0)
		return fail(r, "unexpected characters");
	r->p += len;
	v = json_alloc(sizeof(JsonValue));
	v->type = type;
	return v;
}

/* Append a child to an array or object. */
static void
add_child(JsonValue *parent, char *key, JsonValue *child)
{
	parent->items = realloc(parent->items, sizeof(JsonValue *) * (parent->n + 1));
	parent->keys = realloc(parent->keys, sizeof(char *) * (parent->n + 1));
	if (parent->items == NULL || parent->keys == NULL)
	{
		fprintf(stderr, "audit_guard_verify: out of memory\n");
		exit(2);
	}
	parent->items[parent->n] = child;
	parent->keys[parent->n] = key;
	parent->n++;
}

/* An object or an array, the opening bracket already seen. */
static JsonValue *
parse_container(Reader *r, bool object)
{
	JsonValue  *v = json_alloc(sizeof(JsonValue));
	char		close = object ? '}' : ']';

	v->type = object ? JSON_OBJECT : JSON_ARRAY;
	if (++r->depth > 64)
		return fail(r, "nested too deeply");
	skip_space(r);
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		r->depth--;
		return v;
	}
	for (;;)
	{
		char	   *key = NULL;
		JsonValue  *child;

		skip_space(r);
		if (object)
		{
			if (r->p >= r->end || *r->p != '"')
				return fail(r, "expected a string key");
			r->p++;
			if ((key = parse_string(r)) == NULL)
				return NULL;
			/* jsonb keeps the last of two equal keys: read neither way */
			if (json_get(v, key) != NULL)
				return fail(r, "a key appears twice in one object");
			skip_space(r);
			if (r->p >= r->end || *r->p != ':')
				return fail(r, "expected ':'");
			r->p++;
		}
		if ((child = parse_value(r)) == NULL)
			return NULL;
		add_child(v, key, child);
		skip_space(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close)
		{
			r->p++;
			r->depth--;
			return v;
		}
		return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

/* Any value. */
static JsonValue *
parse_value(Reader *r)
{
	skip_space(r);
	if (r->p >= r->end)
		return fail(r, "unexpected end of input");
	switch (*r->p)
	{
		case '{':
			r->p++;
			return parse_container(r, true);
		case '[':
			r->p++;
			return parse_container(r, false);
		case '"':
			{
				JsonValue  *v;
				char	   *s;

				r->p++;
				if ((s = parse_string(r)) == NULL)
					return NULL;
				v = json_alloc(sizeof(JsonValue));
				v->type = JSON_STRING;
				v->string = s;
				return v;
			}
		case 't':
			return parse_word(r, "true", JSON_TRUE);
		case 'f':
			return parse_word(r, "false", JSON_FALSE);
		case 'n':
			return parse_word(r, "null", JSON_NULL);
		default:
			return parse_number(r);
	}
}

/* Parse a whole document; NULL and *error on failure. */
JsonValue *
json_parse(const char *text, size_t len, const char **error)
{
	Reader		r = {text, text + len, NULL, 0};
	JsonValue  *v = parse_value(&r);

	if (v != NULL)
	{
		skip_space(&r);
		if (r.p != r.end)
			v = fail(&r, "text after the document");
	}
	*error = r.error;
	return v;
}

/* The member key of an object, or NULL. */
const JsonValue *
json_get(const JsonValue *object, const char *key)
{
	size_t		i;

	if (object == NULL || object->type != JSON_OBJECT)
		return NULL;
	for (i = 0; i < object->n; i++)
		if (strcmp(object->keys[i], key) == 0)
			return object->items[i];
	return NULL;
}

/* Append s to out as a JSON string. */
void
json_write_string(FILE *out, const char *s)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}
