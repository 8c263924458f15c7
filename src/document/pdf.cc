/* Driving qpdf: checking a PDF within its limits, and writing it locked with key material
 * derived once per password. The one C++ file of carteiro, behind document_int.h.
 *
 * Why C++: what makes locking cheap has no C route. qpdf's C API (qpdf-c.h) can only encrypt
 * with setR6EncryptionParameters, which runs revision 6's password hashing (Algorithm 2.B,
 * four times, ~5 ms) for every document; the C++ API can derive the key material once
 * (QPDF::compute_encryption_parameters_V5) and give it to any number of writers
 * (QPDFWriter::copyEncryptionParameters). The C API also cannot stream a stream's decoded
 * data into our own sink (qpdf_oh_get_stream_data buffers it whole, which is how a PDF bomb
 * takes gigabytes), nor bound what qpdf allocates. Exceptions stop here: every entry point
 * catches everything and returns a ct_doc_error_t.
 *
 * One document, start to finish (ct__pdf_run):
 *   reading   QPDF::processMemoryFile over the caller's bytes (not copied), recovery off.
 *   checking  the root; every object stream the cross-reference table names; every object
 *             of that table parsed (as the writer will); the page tree; then every object
 *             reachable from the trailer, each stream among them decoded
 *             (qpdf_dl_specialized: the lossless filters) into a sink that counts bytes and
 *             keeps none (Limits below). Each stream is then marked to be written as it
 *             came (setFilterOnWrite(false)): the writer copies its raw bytes, encrypted,
 *             instead of inflating and deflating them again (libharu writes /Filter as an
 *             array, [/FlateDecode], which qpdf's writer would otherwise recompress).
 *   writing   a QPDFWriter of the same QPDF object (one parse), encryption copied from a
 *             "shell": a small PDF made per document that carries the key material's
 *             encryption dictionary and a fresh random /ID, opened with the file key as a hex
 *             key (setPasswordIsHexKey: no password hashing). The writer takes /ID[0] from the
 *             shell and seeds /ID[1] with a random string (write_locked says how): every
 *             document gets its own /ID. qpdf draws a fresh random IV for every string and
 *             stream it encrypts (we never call setStaticAesIV). The output goes straight
 *             into a buffer of ours (through stdio it cost as much as all the rest).
 * Nothing qpdf made outlives the call, and nothing is shared between threads: the key
 * material arrives as plain bytes, every QPDF object is this call's own.
 *
 * Limits. Decoded bytes are counted by the sink, per stream and per document, against the
 * caller's ct_doc_limits_t; past a limit the sink throws, qpdf stops decoding, and the
 * document is "document_too_large". That covers what we decode. qpdf also decodes on its own,
 * and keeps the result whole: cross-reference streams while opening, object streams when an
 * object in one is first needed, and the predictors of /DecodeParms allocate row buffers from
 * /Columns before any data flows. So memory itself is bounded too: while a document is being
 * worked on, this thread's account is charged for every allocation qpdf makes through
 * operator new (the replacements at the end of this file), and for the locked copy as it
 * grows; an allocation that would take it past `memory_max` (less the document itself, held
 * by the caller) throws std::bad_alloc, which ends the document the same way. Memory freed
 * while the account is open is wiped first. On other threads, and outside these calls,
 * operator new is malloc and nothing more.
 */
extern "C" {
#include "document/document_int.h"

#include "common/error.h"
}

#include <qpdf/Constants.h>
#include <qpdf/Pipeline.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjGen.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFWriter.hh>
#include <qpdf/QPDFXRefEntry.hh>
#include <qpdf/QUtil.hh>

#include <malloc.h>
#include <new>
#include <set>
#include <stdexcept>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string>
#include <vector>

namespace {

/* ---- memory accounting ----------------------------------------------------------------- */

/* The memory of one document on this thread. `used` is net of frees (memory allocated before
 * the account opened and freed while it is open makes it smaller, never wrong the other
 * way). While `limiting`, an allocation that would take `used` past `cap` is refused. */
struct Account {
  int64_t used;
  int64_t cap;
  bool limiting;
  bool over; /* an allocation was refused: the document is too large */
  bool oom;  /* the system had no memory: worth trying again later */
};

/* The open account of this thread, or NULL. A plain pointer: no constructor, so reading it
 * costs one thread-local load. */
thread_local Account *current = nullptr;

/* Once over, unwinding still needs small allocations (an exception's text, qpdf's warning
 * records, the null object a failed lookup becomes); a destructor that cannot allocate would
 * end the process. These get this much room past the cap, and nothing larger does. */
constexpr size_t SMALL = 512;
constexpr int64_t SLACK = (int64_t)1 << 20;

bool refuse(Account *a, size_t n, bool small_ok) {
  if (a == nullptr || !a->limiting)
    return false;
  int64_t after = a->used + (int64_t)n;
  if (after <= a->cap || (small_ok && n <= SMALL && after <= a->cap + SLACK))
    return false;
  a->over = true;
  return true;
}

void *charged(size_t n) {
  Account *a = current;
  if (refuse(a, n, true))
    return nullptr;
  void *p = malloc(n > 0 ? n : 1);
  if (a != nullptr) {
    if (p != nullptr)
      a->used += (int64_t)malloc_usable_size(p);
    else
      a->oom = true;
  }
  return p;
}

void *charged_aligned(size_t n, size_t align) {
  Account *a = current;
  if (refuse(a, n, false))
    return nullptr;
  void *p = nullptr;
  if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n > 0 ? n : 1) != 0) {
    if (a != nullptr)
      a->oom = true;
    return nullptr;
  }
  if (a != nullptr)
    a->used += (int64_t)malloc_usable_size(p);
  return p;
}

/* Memory freed while an account is open held the document, its objects, or copies of its
 * file key (qpdf keeps some in its own objects): it is wiped before it goes back to the
 * allocator. */
void released(void *p) {
  if (p == nullptr)
    return;
  Account *a = current;
  if (a != nullptr) {
    size_t n = malloc_usable_size(p);
    a->used -= (int64_t)n;
    explicit_bzero(p, n);
  }
  free(p);
}

/* Opens an account for the scope, exceptions included. Declared before the QPDF objects of a
 * document, so that it still counts (and wipes) while they are destroyed. */
class Charge {
public:
  explicit Charge(Account *a) : prev_(current) { current = a; }
  ~Charge() { current = prev_; }
  Charge(const Charge &) = delete;
  Charge &operator=(const Charge &) = delete;

private:
  Account *prev_;
};

/* Limits the open account for the scope. Declared after the QPDF objects, so that their
 * destructors (which allocate) never meet a full account. */
class Limit {
public:
  explicit Limit(Account &a) : a_(a) { a_.limiting = true; }
  ~Limit() { a_.limiting = false; }
  Limit(const Limit &) = delete;
  Limit &operator=(const Limit &) = delete;

private:
  Account &a_;
};

/* ---- decoded bytes --------------------------------------------------------------------- */

/* Why a document is too large, once it is. */
struct Verdict {
  const ct_doc_limits_t *limits;
  uint64_t total = 0; /* decoded bytes of the document so far */
  bool too_large = false;
  char detail[160] = "";
};

/* Thrown by the sink past a limit. qpdf catches it inside its stream pipeline and turns it
 * into a warning; the Verdict is what we look at. */
struct LimitReached : std::runtime_error {
  LimitReached() : std::runtime_error("decoded size limit") {}
};

/* The end of a stream's decoding pipeline: counts, keeps nothing. */
class Counter : public Pipeline {
public:
  Counter(Verdict &v, QPDFObjGen og, uint64_t encoded)
      : Pipeline("carteiro count", nullptr), v_(v), og_(og), encoded_(encoded) {}

  void write(unsigned char const *, size_t len) override {
    if (v_.too_large)
      throw LimitReached();
    n_ += len;
    v_.total += len;
    const ct_doc_limits_t *l = v_.limits;
    if (n_ > l->stream_max) {
      snprintf(v_.detail, sizeof v_.detail, "stream %d %d decodes to more than %llu bytes",
               og_.getObj(), og_.getGen(), (unsigned long long)l->stream_max);
      refuse();
    }
    if (l->ratio_max > 0 && n_ > CT_DOC_RATIO_FLOOR && n_ / l->ratio_max > encoded_) {
      snprintf(v_.detail, sizeof v_.detail,
               "stream %d %d decodes to more than %u times its %llu bytes", og_.getObj(),
               og_.getGen(), l->ratio_max, (unsigned long long)encoded_);
      refuse();
    }
    if (v_.total > l->decoded_max) {
      snprintf(v_.detail, sizeof v_.detail,
               "the document's streams decode to more than %llu bytes",
               (unsigned long long)l->decoded_max);
      refuse();
    }
  }

  void finish() override {}

private:
  [[noreturn]] void refuse() {
    v_.too_large = true;
    throw LimitReached();
  }

  Verdict &v_;
  QPDFObjGen og_;
  uint64_t encoded_;
  uint64_t n_ = 0;
};

/* Decodes `stream` into a Counter. The encoded size for the ratio is its /Length, which qpdf
 * has checked against the file while parsing (recovery is off, so a wrong one failed). */
void decode(QPDFObjectHandle stream, Verdict &v) {
  QPDFObjectHandle length = stream.getDict().getKey("/Length");
  uint64_t encoded = length.isInteger() && length.getIntValue() > 0
                         ? (uint64_t)length.getIntValue()
                         : 0;
  Counter sink(v, stream.getObjGen(), encoded);
  stream.pipeStreamData(&sink, 0, qpdf_dl_specialized, false, false);
  if (v.too_large || (current != nullptr && current->over))
    throw LimitReached();
}

/* ---- the steps ------------------------------------------------------------------------- */

const char *kind_name(qpdf_error_code_e code) {
  switch (code) {
  case qpdf_e_success:
    return "success";
  case qpdf_e_internal:
    return "internal";
  case qpdf_e_system:
    return "system";
  case qpdf_e_unsupported:
    return "unsupported";
  case qpdf_e_password:
    return "password";
  case qpdf_e_damaged_pdf:
    return "damaged_pdf";
  case qpdf_e_pages:
    return "pages";
  case qpdf_e_object:
    return "object";
  case qpdf_e_json:
    return "json";
  case qpdf_e_linearization:
    return "linearization";
  }
  return "unknown";
}

/* Fails with document_damaged when qpdf recorded a warning during `step` (see the rule in
 * document.h). */
int fail_warning(QPDF &q, const char *step, ct_doc_error_t *err) {
  if (!q.anyWarnings())
    return 0;
  std::vector<QPDFExc> w = q.getWarnings();
  if (w.empty())
    return 0;
  return ct__doc_fail(err, CT_DOC_DAMAGED, false, "qpdf %s: %s warning at offset %llu", step,
                      kind_name(w[0].getErrorCode()),
                      (unsigned long long)w[0].getFilePosition());
}

/* Every object stream of the cross-reference table, decoded before any object in it is
 * resolved: qpdf would otherwise decode it whole into memory first. (One whose /Length lives
 * in another object stream makes qpdf decode that one while we look; the memory account
 * bounds that case.) */
void check_object_streams(QPDF &q, Verdict &v) {
  std::set<int> numbers;
  for (auto const &e : q.getXRefTable())
    if (e.second.getType() == 2)
      numbers.insert(e.second.getObjStreamNumber());
  for (int n : numbers) {
    QPDFObjectHandle s = q.getObjectByID(n, 0);
    if (s.isStream())
      decode(s, v);
  }
}

/* Every object reachable from the trailer, once: what the writer will write. Streams are
 * decoded, then marked to be copied as they are. */
void check_reachable(QPDF &q, Verdict &v) {
  std::set<QPDFObjGen> seen;
  std::vector<QPDFObjectHandle> todo;
  todo.push_back(q.getTrailer());
  while (!todo.empty()) {
    QPDFObjectHandle h = todo.back();
    todo.pop_back();
    if (h.isIndirect() && !seen.insert(h.getObjGen()).second)
      continue;
    if (h.isStream()) {
      decode(h, v);
      h.setFilterOnWrite(false);
      todo.push_back(h.getDict());
    } else if (h.isArray()) {
      for (auto &item : h.aitems())
        todo.push_back(item);
    } else if (h.isDictionary()) {
      for (auto &kv : h.ditems())
        todo.push_back(kv.second);
    }
  }
}

std::string hex_of(const uint8_t *p, size_t n) {
  return QUtil::hex_encode(std::string(reinterpret_cast<const char *>(p), n));
}

std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  QUtil::initializeWithRandomBytes(reinterpret_cast<unsigned char *>(&s[0]), n);
  return s;
}

/* A PDF with no page whose trailer carries the encryption dictionary of `k` and `id`. */
std::string shell_pdf(const ct__pdf_keys_t *k, const std::string &id) {
  std::string s = "%PDF-1.7\n";
  size_t at[3];
  at[0] = s.size();
  s += "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";
  at[1] = s.size();
  s += "2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n";
  at[2] = s.size();
  s += "3 0 obj\n<< /Filter /Standard /V 5 /R 6 /Length 256 /P " +
       std::to_string(CT__PDF_PERMISSIONS) + " /O <" + hex_of(k->o, sizeof k->o) + "> /U <" +
       hex_of(k->u, sizeof k->u) + "> /OE <" + hex_of(k->oe, sizeof k->oe) + "> /UE <" +
       hex_of(k->ue, sizeof k->ue) + "> /Perms <" + hex_of(k->perms, sizeof k->perms) +
       "> /StmF /StdCF /StrF /StdCF /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length "
       "32 >> >> >>\nendobj\n";
  size_t xref = s.size();
  s += "xref\n0 4\n0000000000 65535 f \n";
  for (size_t off : at) {
    char line[24];
    snprintf(line, sizeof line, "%010zu 00000 n \n", off);
    s += line;
  }
  std::string idhex = QUtil::hex_encode(id);
  s += "trailer\n<< /Size 4 /Root 1 0 R /Encrypt 3 0 R /ID [<" + idhex + "> <" + idhex +
       ">] >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return s;
}

/* The locked document, written into a growing malloc'd buffer. Growth is charged to the
 * account like qpdf's own allocations; past the cap, or out of memory, it throws. */
class Output : public Pipeline {
public:
  explicit Output(Account &a) : Pipeline("carteiro output", nullptr), a_(a) {}
  ~Output() override { free(data_); }

  void write(unsigned char const *buf, size_t n) override {
    if (len_ + n > cap_)
      grow(len_ + n);
    memcpy(data_ + len_, buf, n);
    len_ += n;
  }
  void finish() override {}

  /* Hands the bytes over: the caller frees them. */
  uint8_t *take(size_t *len) {
    uint8_t *d = data_;
    *len = len_;
    data_ = nullptr;
    len_ = cap_ = 0;
    return d;
  }

private:
  void grow(size_t need) {
    size_t cap = cap_ > 0 ? cap_ : 64 * 1024;
    while (cap < need)
      cap *= 2;
    int64_t more = (int64_t)(cap - cap_);
    if (a_.limiting && a_.used + more > a_.cap) {
      a_.over = true;
      throw std::bad_alloc();
    }
    uint8_t *p = static_cast<uint8_t *>(realloc(data_, cap));
    if (p == nullptr) {
      a_.oom = true;
      throw std::bad_alloc();
    }
    a_.used += more;
    data_ = p;
    cap_ = cap;
  }

  Account &a_;
  uint8_t *data_ = nullptr;
  size_t len_ = 0, cap_ = 0;
};

/* Writes `q` locked with `keys` into `out`.
 *
 * /ID: copyEncryptionParameters takes /ID[0] from the shell (random, per document) and makes
 * /ID[1] there and then, as MD5 of the time in seconds, the output's name and the strings of
 * the document's /Info; for one input locked twice in a second all three are the same. So a
 * random string is in /Info while it runs, and removed before anything is written. */
void write_locked(QPDF &q, QPDF &shell, const ct__pdf_keys_t *keys, Output &out) {
  std::string shell_bytes = shell_pdf(keys, random_bytes(16));
  std::string hexkey = hex_of(keys->key, sizeof keys->key);
  shell.setSuppressWarnings(true);
  shell.setPasswordIsHexKey(true);
  shell.processMemoryFile("shell", shell_bytes.data(), shell_bytes.size(), hexkey.c_str());

  QPDFObjectHandle trailer = q.getTrailer();
  bool had_info = trailer.hasKey("/Info") && trailer.getKey("/Info").isDictionary();
  QPDFObjectHandle info =
      had_info ? trailer.getKey("/Info") : QPDFObjectHandle::newDictionary();
  if (!had_info)
    trailer.replaceKey("/Info", info);
  info.replaceKey("/CarteiroNonce",
                  QPDFObjectHandle::newString(QUtil::hex_encode(random_bytes(16))));

  QPDFWriter w(q);
  w.setOutputPipeline(&out);
  w.copyEncryptionParameters(shell);
  info.removeKey("/CarteiroNonce");
  if (!had_info)
    trailer.removeKey("/Info");
  w.write();
}

/* Turns whatever a step threw into our reason. */
int fail_exception(const char *step, const Account &acct, const Verdict &v,
                   ct_doc_error_t *err) {
  int kind = 0; /* 1 damaged (qpdf's error), 2 password, 3 no memory, 4 runtime, 5 other */
  qpdf_error_code_e code = qpdf_e_internal;
  unsigned long long pos = 0;
  try {
    throw;
  } catch (const QPDFExc &e) {
    code = e.getErrorCode();
    pos = (unsigned long long)e.getFilePosition();
    kind = code == qpdf_e_password ? 2 : 1;
  } catch (const std::bad_alloc &) {
    kind = 3;
  } catch (const std::runtime_error &) {
    kind = 4;
  } catch (...) {
    kind = 5;
  }
  /* A limit reached explains whatever qpdf made of it. */
  if (v.too_large)
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false, "%s", v.detail);
  if (acct.over)
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                        "the document needs more than %llu MB of memory",
                        (unsigned long long)(v.limits->memory_max >> 20));
  /* qpdf turns some failures into others (a stream it could not decode for want of memory
   * becomes a warning about the stream): the account knows better. */
  if (acct.oom)
    kind = 3;
  switch (kind) {
  case 1:
    /* The message can quote tokens of the document: only its kind and offset are used. */
    return ct__doc_fail(err, CT_DOC_DAMAGED, false, "qpdf %s: %s error at offset %llu", step,
                        kind_name(code), pos);
  case 2:
    return ct__doc_fail(err, CT_DOC_ENCRYPTED, false, "the document needs a password to open");
  case 3:
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "qpdf %s: out of memory", step);
  case 4:
    /* qpdf throws runtime_error for malformed input it meets below its parser (an integer
     * out of range, a filter that cannot be set up); its C API reports these as "system"
     * errors. The document, not the system, is at fault: both inputs are in memory. */
    return ct__doc_fail(err, CT_DOC_DAMAGED, false, "qpdf %s: system error at offset 0", step);
  default:
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "qpdf %s: internal error", step);
  }
}

/* After a step: a limit reached first (qpdf may have turned it into a warning), then any
 * warning. */
int after_step(QPDF &q, const char *step, const Account &acct, const Verdict &v,
               ct_doc_error_t *err) {
  if (v.too_large || acct.over || acct.oom)
    throw LimitReached();
  return fail_warning(q, step, err);
}

int run(const ct_bytes_t *pdf, const ct_doc_limits_t *limits, ct__pdf_keys_fn get_keys,
        void *arg, ct_bytes_t *out, ct_doc_error_t *err) {
  bool lock = get_keys != nullptr;
  Verdict v;
  v.limits = limits;
  /* The document itself is held outside qpdf; the rest of the allowance is for qpdf and the
   * locked copy. */
  if ((int64_t)limits->memory_max <= (int64_t)pdf->len)
    return ct__doc_fail(err, CT_DOC_TOO_LARGE, false,
                        "the document needs more than %llu MB of memory",
                        (unsigned long long)(limits->memory_max >> 20));
  Account acct = {0, (int64_t)limits->memory_max - (int64_t)pdf->len, false, false, false};
  Output output(acct);
  const char *step = "reading";
  int rc = 0;
  {
    Charge charge(&acct);
    QPDF q;
    QPDF shell;
    Limit limit(acct);
    try {
      q.setSuppressWarnings(true);
      /* Recovery would rebuild the cross-reference table of a truncated or edited file and
       * guess stream lengths; what it rebuilds is not necessarily the bill that was issued. */
      q.setAttemptRecovery(false);
      q.processMemoryFile("document", reinterpret_cast<const char *>(pdf->data), pdf->len, "");
      rc = after_step(q, step, acct, v, err);
      if (rc == 0 && q.isEncrypted())
        /* It opened with the empty user password but has an owner password: someone already
         * chose its restrictions, and a second lock would need to remove theirs. */
        rc = ct__doc_fail(err, CT_DOC_ENCRYPTED, false, "the document is already encrypted");
      if (rc == 0) {
        step = "checking";
        q.getRoot();
        check_object_streams(q, v);
        /* Every object of the cross-reference table parsed, reachable or not: the writer does
         * the same before it writes, and a warning there must be found here. */
        q.fixDanglingReferences();
        q.getAllPages();
        check_reachable(q, v);
        rc = after_step(q, step, acct, v, err);
      }
      if (rc == 0 && lock) {
        ct__pdf_keys_t keys;
        rc = get_keys(arg, &keys, err);
        /* A derivation that failed for want of the document's memory: too large, not a
         * shortage worth retrying. */
        if (rc != 0 && acct.over)
          throw LimitReached();
        if (rc == 0) {
          step = "writing";
          try {
            write_locked(q, shell, &keys, output);
          } catch (...) {
            explicit_bzero(&keys, sizeof keys);
            throw;
          }
          explicit_bzero(&keys, sizeof keys);
          rc = after_step(q, step, acct, v, err);
        }
      }
    } catch (...) {
      rc = fail_exception(step, acct, v, err);
    }
  }
  if (rc != 0 || !lock)
    return rc;
  size_t len;
  uint8_t *data = output.take(&len);
  if (data == nullptr || len == 0) {
    free(data);
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "qpdf wrote nothing");
  }
  out->data = data;
  out->len = len;
  return 0;
}

} // namespace

extern "C" int ct__pdf_run(const ct_bytes_t *pdf, const ct_doc_limits_t *limits,
                           ct__pdf_keys_fn keys, void *arg, ct_bytes_t *out,
                           ct_doc_error_t *err) {
  try {
    return run(pdf, limits, keys, arg, out, err);
  } catch (...) {
    /* Only the allocations of run() itself, outside every account, can get here. */
    return ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "qpdf: out of memory");
  }
}

extern "C" int ct__pdf_derive(const char *user, const char *owner, ct__pdf_keys_t *out,
                              ct_doc_error_t *err) {
  std::string key, o, u, oe, ue, perms;
  int rc = 0;
  try {
    QPDF::compute_encryption_parameters_V5(user, owner, 5, 6, 32, CT__PDF_PERMISSIONS, true, "",
                                           key, o, u, oe, ue, perms);
    if (key.size() != sizeof out->key || o.size() != sizeof out->o ||
        u.size() != sizeof out->u || oe.size() != sizeof out->oe ||
        ue.size() != sizeof out->ue || perms.size() != sizeof out->perms) {
      rc = ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false,
                        "qpdf derived key material of unexpected sizes");
    } else {
      memcpy(out->key, key.data(), sizeof out->key);
      memcpy(out->o, o.data(), sizeof out->o);
      memcpy(out->u, u.data(), sizeof out->u);
      memcpy(out->oe, oe.data(), sizeof out->oe);
      memcpy(out->ue, ue.data(), sizeof out->ue);
      memcpy(out->perms, perms.data(), sizeof out->perms);
    }
  } catch (const std::bad_alloc &) {
    rc = ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, true, "qpdf deriving keys: out of memory");
  } catch (...) {
    rc = ct__doc_fail(err, CT_DOC_PROTECTION_FAILED, false, "qpdf deriving keys: internal error");
  }
  if (!key.empty())
    explicit_bzero(&key[0], key.size());
  return rc;
}

/* ---- operator new and delete ------------------------------------------------------------
 * Replacing them is how qpdf's allocations reach the account above (the C++ standard lets a
 * program replace these functions; every C++ library in the process then uses them). Every
 * variant jemalloc and libstdc++ export is replaced, so that memory never goes out through
 * one family and back through another. Without an open account each is malloc or free. */

void *operator new(size_t n) {
  void *p = charged(n);
  if (p == nullptr)
    throw std::bad_alloc();
  return p;
}
void *operator new[](size_t n) { return operator new(n); }
void *operator new(size_t n, const std::nothrow_t &) noexcept { return charged(n); }
void *operator new[](size_t n, const std::nothrow_t &) noexcept { return charged(n); }
void *operator new(size_t n, std::align_val_t al) {
  void *p = charged_aligned(n, (size_t)al);
  if (p == nullptr)
    throw std::bad_alloc();
  return p;
}
void *operator new[](size_t n, std::align_val_t al) { return operator new(n, al); }
void *operator new(size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  return charged_aligned(n, (size_t)al);
}
void *operator new[](size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  return charged_aligned(n, (size_t)al);
}
void operator delete(void *p) noexcept { released(p); }
void operator delete[](void *p) noexcept { released(p); }
void operator delete(void *p, size_t) noexcept { released(p); }
void operator delete[](void *p, size_t) noexcept { released(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { released(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { released(p); }
void operator delete(void *p, std::align_val_t) noexcept { released(p); }
void operator delete[](void *p, std::align_val_t) noexcept { released(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { released(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { released(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept {
  released(p);
}
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept {
  released(p);
}
