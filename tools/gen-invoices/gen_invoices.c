/* gen-invoices: synthetic, valid invoice jobs for tests, demos and benchmarks.
 *
 * Every job is valid by construction and checked with ct_job_validate() before it is written:
 * CPFs with correct check digits, Brazilian mobiles on area codes ANATEL really assigns, e-mail
 * addresses at the reserved example.com/.org/.net domains only, boleto lines whose due-date
 * factor and amount agree with the invoice (bank slips; some telco invoices carry a utility
 * slip, whose fields are not cross-checked), and PIX codes with a correct CRC16.
 *
 * Job number K of seed S is always the same job, whatever --count and whatever else is in the
 * file: each job draws from its own generator seeded by (S, K). So "--start-id 50 --count 10"
 * reproduces jobs 50..59 of a larger run, and re-generating a file gives the same bytes.
 *
 * Two case shapes from the source cases (DESIGN.md):
 *   telco: tenant "tim", deliveries [[whatsapp, sms]], PDF locked with the CPF's first 4 digits;
 *   bank:  tenant "banco-x", deliveries [[email], [sms]], PDF locked with the card's last 4.
 *
 * With --pdf, each job also gets its invoice as a real one-page PDF (pdf.c), carried in the
 * job (inline) or written under a directory at the job's document.path (dir=DIR). PDFs are
 * rendered, written and freed one job at a time, so memory does not grow with --count. A job's
 * PDF draws from a second stream of (S, K), so the job's own data is the same with or without
 * it.
 */
#include "common/clock.h"
#include "common/error.h"
#include "job/job.h"
#include "job/record.h"
#include "job/validate.h"
#include "pdf.h"
#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* sysexits.h values, as the carteiro CLI uses them. */
#define EXIT_USAGE 64
#define EXIT_SOFTWARE 70
#define EXIT_IOERR 74

#define MAX_SPECS 16
#define MAX_DELIVERIES 4
#define MAX_CHANNELS 3

/* ---------------------------------------------------------------------------------------- */
/* Randomness: one stream per job (rng.h)                                                    */

static rng_t job_rng(uint64_t seed, uint64_t number) {
  rng_t r = {seed};
  uint64_t a = rng_next(&r);
  rng_t job = {a ^ (number * 0xd1342543de82ef95u)};
  rng_next(&job); /* decorrelate neighbouring numbers */
  return job;
}

/* The seed of job K's PDF: another stream of (S, K), so that whatever the page draws never
 * shifts the job's own draws. */
static uint64_t pdf_seed(uint64_t seed, uint64_t number) {
  rng_t r = job_rng(seed ^ 0x5044465f50414745u /* "PDF_PAGE" */, number);
  return rng_next(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Built-in data                                                                             */

typedef struct {
  const char *shown; /* as written in the greeting */
  const char *ascii; /* for e-mail local parts */
} name_t;

static const name_t first_names[] = {
    {"Maria", "maria"},       {"Ana", "ana"},           {"Francisca", "francisca"},
    {"Ant\xc3\xb4nia", "antonia"}, {"Adriana", "adriana"}, {"Juliana", "juliana"},
    {"M\xc3\xa1rcia", "marcia"},   {"Fernanda", "fernanda"}, {"Patr\xc3\xad" "cia", "patricia"},
    {"Aline", "aline"},       {"Let\xc3\xad" "cia", "leticia"}, {"Beatriz", "beatriz"},
    {"Lu\xc3\xadza", "luiza"},     {"Concei\xc3\xa7\xc3\xa3o", "conceicao"}, {"Jos\xc3\xa9", "jose"},
    {"Jo\xc3\xa3o", "joao"},       {"Ant\xc3\xb4nio", "antonio"}, {"Francisco", "francisco"},
    {"Carlos", "carlos"},     {"Paulo", "paulo"},       {"Pedro", "pedro"},
    {"Lucas", "lucas"},       {"Luiz", "luiz"},         {"Marcos", "marcos"},
    {"Gabriel", "gabriel"},   {"Rafael", "rafael"},     {"Sebasti\xc3\xa3o", "sebastiao"},
    {"Tiago", "tiago"},       {"Raimundo", "raimundo"}, {"Vit\xc3\xb3ria", "vitoria"},
};

static const name_t surnames[] = {
    {"Silva", "silva"},         {"Santos", "santos"},       {"Oliveira", "oliveira"},
    {"Souza", "souza"},         {"Rodrigues", "rodrigues"}, {"Ferreira", "ferreira"},
    {"Alves", "alves"},         {"Pereira", "pereira"},     {"Lima", "lima"},
    {"Gomes", "gomes"},         {"Costa", "costa"},         {"Ribeiro", "ribeiro"},
    {"Martins", "martins"},     {"Carvalho", "carvalho"},   {"Almeida", "almeida"},
    {"Lopes", "lopes"},         {"Soares", "soares"},       {"Fernandes", "fernandes"},
    {"Vieira", "vieira"},       {"Barbosa", "barbosa"},     {"Ara\xc3\xbajo", "araujo"},
    {"Gon\xc3\xa7" "alves", "goncalves"}, {"Magalh\xc3\xa3" "es", "magalhaes"},
    {"Nascimento", "nascimento"},
};

static const char *const particles[] = {"da", "de", "dos", "das"};

static const char *const email_domains[] = {"example.com", "example.org", "example.net"};

/* Area codes (DDD) in use, with the IANA zone of their state where it is not São Paulo's. */
typedef struct {
  int ddd;
  const char *zone; /* NULL: the default, America/Sao_Paulo */
} ddd_t;

static const ddd_t ddds[] = {
    {11, NULL}, {12, NULL}, {13, NULL}, {14, NULL}, {15, NULL}, {16, NULL}, {17, NULL},
    {18, NULL}, {19, NULL}, {21, NULL}, {22, NULL}, {24, NULL}, {27, NULL}, {28, NULL},
    {31, NULL}, {32, NULL}, {33, NULL}, {34, NULL}, {35, NULL}, {37, NULL}, {38, NULL},
    {41, NULL}, {42, NULL}, {43, NULL}, {44, NULL}, {45, NULL}, {46, NULL}, {47, NULL},
    {48, NULL}, {49, NULL}, {51, NULL}, {53, NULL}, {54, NULL}, {55, NULL}, {61, NULL},
    {62, NULL}, {63, "America/Araguaina"}, {64, NULL}, {65, "America/Cuiaba"},
    {66, "America/Cuiaba"}, {67, "America/Campo_Grande"}, {68, "America/Rio_Branco"},
    {69, "America/Porto_Velho"}, {71, "America/Bahia"}, {73, "America/Bahia"},
    {74, "America/Bahia"}, {75, "America/Bahia"}, {77, "America/Bahia"},
    {79, "America/Maceio"}, {81, "America/Recife"}, {82, "America/Maceio"},
    {83, "America/Fortaleza"}, {84, "America/Fortaleza"}, {85, "America/Fortaleza"},
    {86, "America/Fortaleza"}, {87, "America/Recife"}, {88, "America/Fortaleza"},
    {89, "America/Fortaleza"}, {91, "America/Belem"}, {92, "America/Manaus"},
    {93, "America/Santarem"}, {94, "America/Belem"}, {95, "America/Boa_Vista"},
    {96, "America/Belem"}, {97, "America/Manaus"}, {98, "America/Fortaleza"},
    {99, "America/Fortaleza"},
};

/* Issuing banks of bank slips (FEBRABAN codes). */
static const char *const banks[] = {"001", "033", "104", "237", "341", "260", "077", "336"};

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                   */

typedef enum { PROFILE_MIXED, PROFILE_TELCO, PROFILE_BANK } profile_t;

typedef enum {
  PDF_NONE,   /* no document: the invoice goes out as texts only */
  PDF_INLINE, /* document.inline_pdf carries the bytes */
  PDF_DIR,    /* document.path, and the file written under pdf_dir */
  PDF_POOL,   /* document.path names one of pdf_pool shared files (pool/NNNNNN.pdf), written
               * under pdf_dir when one is given: a month of invoices on a pool of documents */
} pdf_mode_t;

typedef struct {
  size_t n;
  Carteiro__V1__Channel channels[MAX_CHANNELS];
} delivery_spec_t;

/* One --channels value: deliveries separated by '+', fallbacks within one by ','. */
typedef struct {
  size_t n;
  delivery_spec_t deliveries[MAX_DELIVERIES];
} channels_spec_t;

typedef struct {
  uint64_t count;
  uint64_t seed;
  uint64_t start_id;
  ct_record_format_t format;
  bool zstd;
  const char *out;
  const char *tenant;
  profile_t profile;
  int32_t base_days;
  pdf_mode_t pdf;
  const char *pdf_dir;
  uint64_t pdf_pool;
  size_t nspecs;
  channels_spec_t specs[MAX_SPECS];
} options_t;

static void usage(FILE *f) {
  fputs(
      "usage: gen-invoices --count N --out FILE|- [options]\n"
      "\n"
      "Writes N synthetic, valid invoice jobs as length-delimited protobuf or JSON lines.\n"
      "Job K of seed S is always the same job, so output is reproducible.\n"
      "\n"
      "  --count N              number of jobs (required)\n"
      "  --out FILE|-           output file, or - for standard output (required)\n"
      "  --format pbs|jsonl     record format (default: from the file name, else pbs)\n"
      "  --zstd                 compress the output with zstd\n"
      "  --seed S               random seed (default 1)\n"
      "  --start-id K           number of the first job; ids are inv-<8 digits> (default 1)\n"
      "  --profile P            telco, bank or mixed (default mixed): telco is tenant tim,\n"
      "                         deliveries [[whatsapp,sms]], password cpf_first4; bank is\n"
      "                         tenant banco-x, deliveries [[email],[sms]], password card_last4\n"
      "  --tenant T             tenant of every job instead of the profile's\n"
      "  --channels SPEC        deliveries of every job instead of the profile's: ',' separates\n"
      "                         fallbacks, '+' separates deliveries (whatsapp,sms or email+sms);\n"
      "                         repeat the option to mix several, one chosen per job\n"
      "  --base-date YYYY-MM-DD due dates fall 5 to 25 days after it (default 2026-12-01)\n"
      "  --pdf none|inline|dir=DIR\n"
      "                         render each invoice as a one-page PDF (20-60 kB): inline puts\n"
      "                         the bytes in document.inline_pdf; dir=DIR writes DIR/<path>\n"
      "                         for the job's document.path (e.g. faturas/tim/2026-12/\n"
      "                         inv-00000001.pdf); none (default): jobs carry no document\n"
      "  --pdf pool=N[:DIR]      job K's document.path is pool/<(K-1) mod N, 6 digits>.pdf, a\n"
      "                         pool of N files shared by all jobs; with :DIR each job's PDF\n"
      "                         is written there (run once with --count N to make the pool)\n"
      "  --help                 this text\n",
      f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  fputs("gen-invoices: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n(see gen-invoices --help)\n", stderr);
  return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *out) {
  if (s[0] < '0' || s[0] > '9')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  *out = v;
  return true;
}

/* The validator's tenant rule, checked up front so that a bad --tenant is a usage error. */
static bool tenant_ok(const char *t) {
  size_t n = strlen(t);
  return n >= 1 && n <= 64 && strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static bool parse_channels(const char *s, channels_spec_t *spec) {
  memset(spec, 0, sizeof *spec);
  delivery_spec_t *d = &spec->deliveries[0];
  spec->n = 1;
  char name[16];
  size_t len = 0;
  for (const char *p = s;; p++) {
    if (*p == ',' || *p == '+' || *p == '\0') {
      name[len] = '\0';
      ct_channel_t ch;
      if (len == 0 || ct_channel_parse(name, &ch) != 0 || d->n == MAX_CHANNELS)
        return false;
      for (size_t i = 0; i < d->n; i++)
        if (d->channels[i] == (Carteiro__V1__Channel)ch)
          return false; /* a fallback repeating its primary is refused by validation */
      d->channels[d->n++] = (Carteiro__V1__Channel)ch;
      len = 0;
      if (*p == '\0')
        return true;
      if (*p == '+') {
        if (spec->n == MAX_DELIVERIES)
          return false;
        d = &spec->deliveries[spec->n++];
      }
    } else {
      if (len == sizeof name - 1)
        return false;
      name[len++] = *p;
    }
  }
}

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, options_t *o) {
  enum { O_COUNT = 256, O_SEED, O_FORMAT, O_ZSTD, O_OUT, O_TENANT, O_START, O_CHANNELS,
         O_PROFILE, O_BASE, O_PDF, O_HELP };
  static const struct option longopts[] = {
      {"count", required_argument, NULL, O_COUNT},
      {"seed", required_argument, NULL, O_SEED},
      {"format", required_argument, NULL, O_FORMAT},
      {"zstd", no_argument, NULL, O_ZSTD},
      {"out", required_argument, NULL, O_OUT},
      {"tenant", required_argument, NULL, O_TENANT},
      {"start-id", required_argument, NULL, O_START},
      {"channels", required_argument, NULL, O_CHANNELS},
      {"profile", required_argument, NULL, O_PROFILE},
      {"base-date", required_argument, NULL, O_BASE},
      {"pdf", required_argument, NULL, O_PDF},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  bool have_count = false;
  memset(o, 0, sizeof *o);
  o->seed = 1;
  o->start_id = 1;
  o->base_days = ct_days_from_civil(2026, 12, 1);
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case O_COUNT:
      if (!parse_u64(optarg, &o->count))
        return usage_error("--count: not a number: %s", optarg);
      have_count = true;
      break;
    case O_SEED:
      if (!parse_u64(optarg, &o->seed))
        return usage_error("--seed: not a number: %s", optarg);
      break;
    case O_START:
      if (!parse_u64(optarg, &o->start_id) || o->start_id > 99999999)
        return usage_error("--start-id: not a number from 0 to 99999999: %s", optarg);
      break;
    case O_FORMAT:
      if (strcmp(optarg, "pbs") == 0)
        o->format = CT_FMT_PBS;
      else if (strcmp(optarg, "jsonl") == 0)
        o->format = CT_FMT_JSONL;
      else
        return usage_error("--format: expected pbs or jsonl, not %s", optarg);
      break;
    case O_ZSTD:
      o->zstd = true;
      break;
    case O_OUT:
      o->out = optarg;
      break;
    case O_TENANT:
      if (!tenant_ok(optarg))
        return usage_error("--tenant: must be 1 to 64 of [a-z0-9_-]: %s", optarg);
      o->tenant = optarg;
      break;
    case O_CHANNELS:
      if (o->nspecs == MAX_SPECS)
        return usage_error("--channels: at most 16 given, %s is one more", optarg);
      if (!parse_channels(optarg, &o->specs[o->nspecs]))
        return usage_error("--channels: expected e.g. whatsapp,sms or email+sms, not %s",
                           optarg);
      o->nspecs++;
      break;
    case O_PROFILE:
      if (strcmp(optarg, "telco") == 0)
        o->profile = PROFILE_TELCO;
      else if (strcmp(optarg, "bank") == 0)
        o->profile = PROFILE_BANK;
      else if (strcmp(optarg, "mixed") == 0)
        o->profile = PROFILE_MIXED;
      else
        return usage_error("--profile: expected telco, bank or mixed, not %s", optarg);
      break;
    case O_BASE:
      if (ct_date_parse(optarg, &o->base_days) != 0 ||
          o->base_days < ct_days_from_civil(2001, 1, 1) ||
          o->base_days > ct_days_from_civil(9000, 1, 1))
        return usage_error("--base-date: expected a date YYYY-MM-DD from 2001 on, not %s",
                           optarg);
      break;
    case O_PDF:
      if (strcmp(optarg, "none") == 0) {
        o->pdf = PDF_NONE;
      } else if (strcmp(optarg, "inline") == 0) {
        o->pdf = PDF_INLINE;
      } else if (strncmp(optarg, "dir=", 4) == 0 && optarg[4] != '\0') {
        o->pdf = PDF_DIR;
        o->pdf_dir = optarg + 4;
      } else if (strncmp(optarg, "pool=", 5) == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(optarg + 5, &end, 10);
        if (errno != 0 || end == optarg + 5 || n == 0 || n > 1000000 ||
            (*end != '\0' && (*end != ':' || end[1] == '\0')))
          return usage_error("--pdf: expected pool=N or pool=N:DIR with N 1..1000000, not %s",
                             optarg);
        o->pdf = PDF_POOL;
        o->pdf_pool = n;
        o->pdf_dir = *end == ':' ? end + 1 : NULL;
      } else {
        return usage_error("--pdf: expected none, inline, dir=DIR or pool=N[:DIR], not %s",
                           optarg);
      }
      break;
    case O_HELP:
      usage(stdout);
      return 0;
    default:
      return usage_error("unknown or incomplete option %s", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return usage_error("unexpected argument %s", argv[optind]);
  if (!have_count)
    return usage_error("%s", "--count is required");
  if (o->out == NULL)
    return usage_error("%s", "--out is required");
  if (o->start_id + o->count > 100000000)
    return usage_error("%s", "--start-id + --count must stay below 100000000 (8-digit ids)");
  if (o->format == CT_FMT_AUTO)
    o->format = ct_record_format_from_name(o->out);
  if (o->format == CT_FMT_AUTO)
    o->format = CT_FMT_PBS;
  return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* One job                                                                                   */

/* Storage for every string of one job: the job's pointers point here, nothing is allocated. */
typedef struct {
  char id[16];
  char name[96];
  char phone[16];
  char email[96];
  char cpf[12];
  char card_last4[5];
  char number[24];
  char due_date[11];
  char barcode[49];
  char pix[256];
  char path[96];
  bool telco;
  ct_job_t job;
  ct_recipient_t recipient;
  ct_invoice_t invoice;
  ct_document_t document;
  ct_delivery_t delivery_msgs[MAX_DELIVERIES];
  ct_delivery_t *deliveries[MAX_DELIVERIES];
  Carteiro__V1__Channel channels[MAX_DELIVERIES][MAX_CHANNELS];
} gen_job_t;

static void make_name(rng_t *r, gen_job_t *g, const name_t **first, const name_t **last) {
  *first = &PICK(r, first_names);
  *last = &PICK(r, surnames);
  if (rng_chance(r, 25)) {
    const name_t *middle = &PICK(r, surnames);
    snprintf(g->name, sizeof g->name, "%s %s %s %s", (*first)->shown, PICK(r, particles),
             middle->shown, (*last)->shown);
  } else if (rng_chance(r, 40)) {
    const name_t *middle = &PICK(r, surnames);
    snprintf(g->name, sizeof g->name, "%s %s %s", (*first)->shown, middle->shown,
             (*last)->shown);
  } else {
    snprintf(g->name, sizeof g->name, "%s %s", (*first)->shown, (*last)->shown);
  }
}

/* 9 random digits (not all equal: the CPF rules refuse 111.111.111-11 and its kind) and the
 * two check digits. */
static void make_cpf(rng_t *r, char out[12]) {
  for (;;) {
    rng_digits(r, out, 9);
    for (int i = 1; i < 9; i++) {
      if (out[i] != out[0]) {
        ct_cpf_complete(out);
        out[11] = '\0';
        return;
      }
    }
  }
}

/* A PIX "copia e cola" payload (EMV BR Code) for the invoice, CRC included. */
static void make_pix(rng_t *r, const char *merchant, int64_t cents, const char *txid,
                     char *out, size_t cap) {
  char key[37];
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 36; i++)
    key[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[rng_below(r, 16)];
  key[36] = '\0';
  char account[80], amount[24], extra[40];
  snprintf(account, sizeof account, "0014br.gov.bcb.pix01%02zu%s", strlen(key), key);
  snprintf(amount, sizeof amount, "%" PRId64 ".%02d", cents / 100, (int)(cents % 100));
  snprintf(extra, sizeof extra, "05%02zu%s", strlen(txid), txid);
  int n = snprintf(out, cap, "000201010212" "26%02zu%s" "52040000" "5303986" "54%02zu%s"
                   "5802BR" "59%02zu%s" "6009SAO PAULO" "62%02zu%s" "6304",
                   strlen(account), account, strlen(amount), amount, strlen(merchant),
                   merchant, strlen(extra), extra);
  uint16_t crc = ct_crc16_ccitt((const uint8_t *)out, (size_t)n);
  snprintf(out + n, cap - (size_t)n, "%04X", crc);
}

static void set_deliveries(gen_job_t *g, const channels_spec_t *spec) {
  g->job.n_deliveries = spec->n;
  g->job.deliveries = g->deliveries;
  for (size_t i = 0; i < spec->n; i++) {
    ct_delivery_t *d = &g->delivery_msgs[i];
    carteiro__v1__delivery__init(d);
    memcpy(g->channels[i], spec->deliveries[i].channels,
           spec->deliveries[i].n * sizeof g->channels[i][0]);
    d->n_channels = spec->deliveries[i].n;
    d->channels = g->channels[i];
    g->deliveries[i] = d;
  }
}

static bool spec_uses(const channels_spec_t *spec, Carteiro__V1__Channel ch) {
  for (size_t i = 0; i < spec->n; i++)
    for (size_t j = 0; j < spec->deliveries[i].n; j++)
      if (spec->deliveries[i].channels[j] == ch)
        return true;
  return false;
}

static const channels_spec_t telco_spec = {
    1, {{2, {CARTEIRO__V1__CHANNEL__CHANNEL_WHATSAPP, CARTEIRO__V1__CHANNEL__CHANNEL_SMS}}}};
static const channels_spec_t bank_spec = {
    2, {{1, {CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL}}, {1, {CARTEIRO__V1__CHANNEL__CHANNEL_SMS}}}};

static void make_job(const options_t *o, uint64_t number, gen_job_t *g) {
  rng_t r = job_rng(o->seed, number);
  memset(g, 0, sizeof *g);
  carteiro__v1__job__init(&g->job);
  carteiro__v1__recipient__init(&g->recipient);
  carteiro__v1__invoice__init(&g->invoice);
  carteiro__v1__document__init(&g->document);

  bool telco = o->profile == PROFILE_TELCO || (o->profile == PROFILE_MIXED && rng_chance(&r, 50));
  g->telco = telco;
  const channels_spec_t *spec = telco ? &telco_spec : &bank_spec;
  if (o->nspecs > 0)
    spec = &o->specs[rng_below(&r, o->nspecs)];
  const char *tenant = o->tenant != NULL ? o->tenant : telco ? "tim" : "banco-x";

  snprintf(g->id, sizeof g->id, "inv-%08" PRIu64, number);
  g->job.id = g->id;
  g->job.tenant = (char *)tenant;
  g->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  /* Created at midnight of the base date in São Paulo (03:00 UTC); no delivery window, so the
   * jobs are due as soon as they are enqueued. */
  g->job.created_at_ms = ((int64_t)o->base_days * 86400 + 3 * 3600) * 1000;

  /* Recipient. */
  const name_t *first, *last;
  make_name(&r, g, &first, &last);
  const ddd_t *ddd = &PICK(&r, ddds);
  char subscriber[8];
  rng_digits(&r, subscriber, 7);
  snprintf(g->phone, sizeof g->phone, "+55%02d9%c%.7s", ddd->ddd, (char)('6' + rng_below(&r, 4)),
           subscriber);
  make_cpf(&r, g->cpf);
  ct_recipient_t *rcp = &g->recipient;
  rcp->name = g->name;
  rcp->phone = g->phone;
  rcp->cpf = g->cpf;
  if (ddd->zone != NULL)
    rcp->time_zone = (char *)ddd->zone;
  if (!telco || spec_uses(spec, CARTEIRO__V1__CHANNEL__CHANNEL_EMAIL) || rng_chance(&r, 50)) {
    const char *domain = PICK(&r, email_domains);
    if (rng_chance(&r, 50))
      snprintf(g->email, sizeof g->email, "%s.%s@%s", first->ascii, last->ascii, domain);
    else
      snprintf(g->email, sizeof g->email, "%s.%s%d@%s", first->ascii, last->ascii,
               (int)rng_range(&r, 1, 99), domain);
    rcp->email = g->email;
  }
  if (!telco) {
    rng_digits(&r, g->card_last4, 4);
    rcp->card_last4 = g->card_last4;
  }
  g->job.recipient = rcp;
  set_deliveries(g, spec);

  /* Invoice. */
  int64_t cents = rng_range(&r, 3000, 90000);
  int32_t due_days = o->base_days + (int32_t)rng_range(&r, 5, 25);
  int y = 0, m = 0, d = 0;
  /* ct_time_format gives the civil date of a day number without a second calendar here. */
  char when[CT_TIME_BUFSZ];
  ct_time_format((int64_t)due_days * 86400 * 1000, when);
  if (sscanf(when, "%4d-%2d-%2d", &y, &m, &d) != 3)
    abort();
  snprintf(g->due_date, sizeof g->due_date, "%04d-%02d-%02d", y, m, d);
  snprintf(g->number, sizeof g->number, "%s-%04d%02d-%08" PRIu64, telco ? "FAT" : "CC", y, m,
           number);
  char free_field[26];
  rng_digits(&r, free_field, 25);
  free_field[25] = '\0';
  int brc;
  if (telco && rng_chance(&r, 30)) {
    /* Telephone companies also collect through "arrecadação" slips, segment 4. */
    char company[5];
    rng_digits(&r, company, 4);
    company[4] = '\0';
    brc = ct_boleto_make_utility('4', rng_chance(&r, 50) ? '6' : '8', cents, company, free_field,
                                 g->barcode);
  } else {
    brc = ct_boleto_make_bank(PICK(&r, banks), due_days, cents, free_field, g->barcode);
  }
  if (brc != 0)
    abort(); /* every input above is in range by construction */
  ct_invoice_t *inv = &g->invoice;
  inv->number = g->number;
  inv->amount_cents = cents;
  inv->currency = "BRL";
  inv->due_date = g->due_date;
  inv->barcode_line = g->barcode;
  if (rng_chance(&r, 50)) {
    char txid[26];
    snprintf(txid, sizeof txid, "%s%08" PRIu64, telco ? "FAT" : "CC", number);
    make_pix(&r, telco ? "CARTEIRO TELECOM" : "CARTEIRO BANCO", cents, txid, g->pix,
             sizeof g->pix);
    inv->pix_code = g->pix;
  }
  snprintf(g->path, sizeof g->path, "faturas/%s/%04d-%02d/%s.pdf", tenant, y, m, g->id);
  ct_document_t *doc = &g->document;
  doc->source_case = CARTEIRO__V1__DOCUMENT__SOURCE_PATH;
  doc->path = g->path;
  doc->password_policy = telco ? CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CPF_FIRST4
                               : CARTEIRO__V1__PASSWORD_POLICY__PASSWORD_POLICY_CARD_LAST4;
  inv->document = doc;
  g->job.invoice = inv;
}

/* ---------------------------------------------------------------------------------------- */
/* PDF files                                                                                 */

/* Creates every missing directory on the way to the last '/' of `path` (which is restored),
 * mode 0700 for the same reason the files are 0600. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    int r = mkdir(path, 0700);
    int e = errno;
    *p = '/';
    if (r != 0 && e != EEXIST)
      return ct_err_from_errno(e);
  }
  return 0;
}

/* Writes `data` to dir/rel, mode 0600 like the record file (the page shows a name and part of
 * a CPF, synthetic or not). The bytes go to a temporary name first and are renamed into
 * place, so that a carteiro reading the directory never sees half a PDF. No fsync: these are
 * test and demo files, and fsyncing each one would dominate the generation time. */
static int write_pdf_file(const char *dir, const char *rel, const uint8_t *data, size_t len) {
  char path[4096], tmp[4096];
  int n = snprintf(path, sizeof path, "%s/%s", dir, rel);
  int t = snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, rel);
  if (n < 0 || t < 0 || (size_t)t >= sizeof tmp)
    return CT_EINVAL;
  int rc = make_parents(tmp);
  if (rc != 0)
    return rc;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return ct_err_from_errno(errno);
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      rc = ct_err_from_errno(errno);
      break;
    }
    off += (size_t)w;
  }
  if (close(fd) != 0 && rc == 0)
    rc = ct_err_from_errno(errno);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = ct_err_from_errno(errno);
  if (rc != 0)
    unlink(tmp);
  return rc;
}

/* Renders job g's PDF and, by mode, writes it to its file (then frees it) or hands it to the
 * job (*pdf, to be freed by the caller once the record is written). On failure the message is
 * printed and an exit status returned; 0 on success. */
static int attach_pdf(const options_t *o, uint64_t number, gen_job_t *g, uint8_t **pdf) {
  if (o->pdf == PDF_POOL) {
    snprintf(g->path, sizeof g->path, "pool/%06" PRIu64 ".pdf", (number - 1) % o->pdf_pool);
    if (o->pdf_dir == NULL)
      return 0; /* the pool was written once, before */
  }
  uint8_t *data;
  size_t len;
  char err[256];
  int rc = gen_pdf_render(&g->job, g->telco ? GEN_PDF_TELCO : GEN_PDF_BANK,
                          pdf_seed(o->seed, number), &data, &len, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "gen-invoices: PDF of %s: %s: %s\n", g->id, ct_strerror(rc), err);
    return EXIT_SOFTWARE;
  }
  if (o->pdf == PDF_INLINE) {
    g->document.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_INLINE_PDF;
    g->document.inline_pdf.data = data;
    g->document.inline_pdf.len = len;
    *pdf = data;
    return 0;
  }
  rc = write_pdf_file(o->pdf_dir, g->path, data, len);
  free(data);
  if (rc != 0) {
    fprintf(stderr, "gen-invoices: %s/%s: %s\n", o->pdf_dir, g->path, ct_strerror(rc));
    return rc == CT_ENOMEM ? EXIT_SOFTWARE : EXIT_IOERR;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------- */

static int write_job(ct_record_writer_t *w, const options_t *o, const ct_job_t *job) {
  int rc;
  if (o->format == CT_FMT_PBS) {
    uint8_t *buf;
    size_t len;
    rc = ct_job_encode_pb(job, &buf, &len);
    if (rc != 0)
      return rc;
    rc = ct_record_write(w, buf, len);
    free(buf);
    return rc;
  }
  json_t *j = ct_job_to_json(job, 0);
  if (j == NULL)
    return CT_ENOMEM;
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (text == NULL)
    return CT_ENOMEM;
  rc = ct_record_write(w, (const uint8_t *)text, strlen(text));
  free(text);
  return rc;
}

int main(int argc, char **argv) {
  options_t o;
  int status = parse_options(argc, argv, &o);
  if (status >= 0)
    return status;

  ct_record_writer_t *w;
  int rc = ct_record_writer_open(&w, o.out, o.format, o.zstd ? 3 : 0);
  if (rc != 0) {
    fprintf(stderr, "gen-invoices: %s: %s\n", o.out, ct_strerror(rc));
    return EXIT_IOERR;
  }
  gen_job_t *g = malloc(sizeof *g);
  if (g == NULL) {
    ct_record_writer_close(w);
    fprintf(stderr, "gen-invoices: %s\n", ct_strerror(CT_ENOMEM));
    return EXIT_SOFTWARE;
  }
  for (uint64_t i = 0; i < o.count && rc == 0; i++) {
    make_job(&o, o.start_id + i, g);
    uint8_t *pdf = NULL;
    if (o.pdf == PDF_NONE) {
      /* Everything else about the job is drawn as with a PDF, so the same seed gives the same
       * jobs whichever --pdf is chosen. */
      g->job.invoice->document = NULL;
    } else {
      status = attach_pdf(&o, o.start_id + i, g, &pdf);
      if (status != 0) {
        free(g);
        ct_record_writer_close(w);
        return status;
      }
    }
    /* The promise is "valid jobs": a job that fails validation is a bug here, so stop. */
    ct_field_error_t errs[4];
    size_t nerr = 0;
    if (ct_job_validate(&g->job, errs, 4, &nerr) != 0) {
      fprintf(stderr, "gen-invoices: generated an invalid job %s: %s: %s\n", g->id,
              errs[0].field, errs[0].reason);
      free(pdf);
      free(g);
      ct_record_writer_close(w);
      return EXIT_SOFTWARE;
    }
    rc = write_job(w, &o, &g->job);
    free(pdf);
  }
  free(g);
  int crc = ct_record_writer_close(w);
  if (rc == 0)
    rc = crc;
  if (rc != 0) {
    fprintf(stderr, "gen-invoices: %s: %s\n", o.out, ct_strerror(rc));
    return rc == CT_ENOMEM ? EXIT_SOFTWARE : EXIT_IOERR;
  }
  return 0;
}
