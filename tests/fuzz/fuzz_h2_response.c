/* libFuzzer target for the native HTTP/2 client's receive path: bytes from a hostile server.
 *
 * Each input sets up one connection of the native transport as if its TLS handshake had just
 * agreed on h2 (no socket, no TLS: ct__h2_fuzz_*), with 1 to 8 POST requests on its streams
 * and their HEADERS and DATA already sent, then feeds the rest of the input to the session as
 * the server's plaintext — frames, HPACK, flow control, GOAWAY, RST_STREAM, PING, SETTINGS,
 * whatever the fuzzer makes — through nghttp2_session_mem_recv and our callbacks (answers,
 * Retry-After and X-Message-Id, body caps, refused streams sent again, a failed session ending
 * the connection). The input is laid out as
 *
 *   byte 0   bits 0-2: requests - 1; bits 3-5: how the rest is cut into reads (all at once,
 *            or 1, 2, 7, 64, 512, 4096 or 16384 bytes at a time)
 *   rest     the server's bytes
 *
 * Beyond "does not crash, leak or overflow": every request is answered exactly once, whatever
 * the server sent, and the transport closes cleanly afterwards (ct__h2_fuzz_free).
 */
#include "transport/h2/h2_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uv_loop_t loop;
  static int ready;
  if (!ready) {
    if (uv_loop_init(&loop) != 0) {
      abort();
    }
    ready = 1;
  }
  if (size == 0) {
    return 0;
  }
  static const size_t cuts[8] = {0, 1, 2, 7, 64, 512, 4096, 16384};
  uint32_t n = (uint32_t)(data[0] & 7u) + 1;
  size_t cut = cuts[(data[0] >> 3) & 7u];
  data++;
  size--;

  ct__h2_fuzz_t *f = ct__h2_fuzz_new(&loop, n);
  if (f == NULL) {
    return 0;
  }
  size_t off = 0;
  while (off < size) {
    size_t len = cut == 0 || size - off < cut ? size - off : cut;
    if (ct__h2_fuzz_feed(f, data + off, len) != 0) {
      break;
    }
    off += len;
  }
  uint32_t once = ct__h2_fuzz_free(f);
  if (once != n) {
    fprintf(stderr, "fuzz_h2_response: %u of %u requests answered exactly once\n", once, n);
    abort();
  }
  return 0;
}
