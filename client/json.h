/*-------------------------------------------------------------------------
 *
 * json.h
 *		The JSON reader and writer audit_guard_verify uses for digests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_GUARD_VERIFY_JSON_H
#define AUDIT_GUARD_VERIFY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum JsonType
{
	JSON_NULL,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
} JsonType;

/* A parsed value; numbers keep their text in string. */
typedef struct JsonValue
{
	JsonType	type;
	char	   *string;			/* JSON_STRING, JSON_NUMBER */
	size_t		n;				/* JSON_ARRAY, JSON_OBJECT: members */
	struct JsonValue **items;
	char	  **keys;			/* JSON_OBJECT: member names */
} JsonValue;

extern JsonValue *json_parse(const char *text, size_t len, const char **error);
extern const JsonValue *json_get(const JsonValue *object, const char *key);
extern void json_write_string(FILE *out, const char *s);

#endif							/* AUDIT_GUARD_VERIFY_JSON_H */
