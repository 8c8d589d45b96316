/* engine/base/hex.h - hex digit helpers for the text formats we decode
 * (%-escapes of the control protocol, \xNN in the fake DNS zone format). */
#ifndef GREYSPF_BASE_HEX_H
#define GREYSPF_BASE_HEX_H

/* hex_value - the value of hex digit c (either case), or -1 */
static inline int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
