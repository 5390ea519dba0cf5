/* crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by
 * iSCSI, ext4 and the archive.  crc32c("123456789", 9) == 0xE3069283. */
#ifndef GCS_CRC32C_H
#define GCS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of data.  To checksum in pieces, pass the previous result as crc;
 * start with 0: crc32c_update(crc32c_update(0, a, n), b, m) == crc32c(a . b). */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* The CRC of one buffer: crc32c_update(0, data, len). */
uint32_t crc32c(const void *data, size_t len);

#endif
