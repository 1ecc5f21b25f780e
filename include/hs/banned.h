/* banned.h - include last in every .c file: poisons functions we never use. strerror is
 * replaced by hs_errno_text, the others by bounded or thread-safe forms. */
#ifndef HS_BANNED_H
#define HS_BANNED_H
#pragma GCC poison strcpy strcat sprintf vsprintf strtok gmtime localtime atoi strerror
#endif
