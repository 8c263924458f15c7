/* Synthetic jobs, accounts and texts for the provider tests. Every value is made up: the
 * phone numbers are in a range no carrier assigns to a person in these tests' world, the
 * e-mail domain is example.com, the barcode line is digits of no real slip. */
#ifndef CT_TEST_PROVIDER_FIXTURE_H
#define CT_TEST_PROVIDER_FIXTURE_H

#include "provider/provider.h"

#include <stdio.h>
#include <string.h>

/* Fills a char array member with a literal (bounded, like every copy in carteiro). */
#define SET(field, text) snprintf((field), sizeof(field), "%s", (text))

typedef struct {
  ct_job_t job;
  ct_recipient_t recipient;
  ct_invoice_t invoice;
  ct_document_t document;
  ct_notification_t notification;
  Carteiro__V1__Notification__ParamsEntry entries[3];
  Carteiro__V1__Notification__ParamsEntry *entry_ptrs[3];
} fixture_t;

#define TEST_PHONE "+5511987650001"
#define TEST_EMAIL "maria.teste@example.com"
#define TEST_BARCODE "00190000090000000000000000000000000000000012345"
#define TEST_PDF_URL "https://docs.example.com/faturas/abc.pdf"

/* An invoice job: Maria Teste, invoice 2026-0001, R$ 1.234,56 due 2026-12-10, PDF by URL. */
static inline void fixture_invoice(fixture_t *f) {
  memset(f, 0, sizeof *f);
  carteiro__v1__job__init(&f->job);
  carteiro__v1__recipient__init(&f->recipient);
  carteiro__v1__invoice__init(&f->invoice);
  carteiro__v1__document__init(&f->document);
  f->job.id = (char *)"job-0001";
  f->job.tenant = (char *)"tim";
  f->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_INVOICE;
  f->job.recipient = &f->recipient;
  f->job.invoice = &f->invoice;
  f->recipient.name = (char *)"Maria Teste";
  f->recipient.phone = (char *)TEST_PHONE;
  f->recipient.email = (char *)TEST_EMAIL;
  f->invoice.number = (char *)"2026-0001";
  f->invoice.amount_cents = 123456;
  f->invoice.due_date = (char *)"2026-12-10";
  f->invoice.barcode_line = (char *)TEST_BARCODE;
  /* The document is ready for tests that attach it (with_document); without it an invoice
   * needs no upload and no prepared bytes. */
  f->document.source_case = CARTEIRO__V1__DOCUMENT__SOURCE_URL;
  f->document.url = (char *)TEST_PDF_URL;
}

static inline void with_document(fixture_t *f) { f->invoice.document = &f->document; }

/* A notification job "boas_vindas" with params given out of key order. */
static inline void fixture_notification(fixture_t *f) {
  fixture_invoice(f);
  f->job.kind = CARTEIRO__V1__JOB_KIND__JOB_KIND_NOTIFICATION;
  f->job.invoice = NULL;
  f->job.notification = &f->notification;
  carteiro__v1__notification__init(&f->notification);
  f->notification.template_name = (char *)"boas_vindas";
  static const char *kv[3][2] = {{"plano", "Controle 20GB"}, {"nome", "Maria"}, {"data", "01/12"}};
  for (int i = 0; i < 3; i++) {
    carteiro__v1__notification__params_entry__init(&f->entries[i]);
    f->entries[i].key = (char *)kv[i][0];
    f->entries[i].value = (char *)kv[i][1];
    f->entry_ptrs[i] = &f->entries[i];
  }
  f->notification.n_params = 3;
  f->notification.params = f->entry_ptrs;
}

static inline void conf_whatsapp(ct_provider_conf_t *c) {
  memset(c, 0, sizeof *c);
  SET(c->name, "wa-test");
  c->channel = CT_CHANNEL_WHATSAPP;
  SET(c->base_url, "https://graph.example.com/v24.0/");
  SET(c->account, "100000000000001");
  c->secret = (char *)"wa-token-synthetic";
  SET(c->template_invoice, "fatura_disponivel");
  SET(c->template_barcode, "fatura_codigo_barras");
  SET(c->template_language, "pt_BR");
}

static inline void conf_sms(ct_provider_conf_t *c) {
  memset(c, 0, sizeof *c);
  SET(c->name, "sms-test");
  c->channel = CT_CHANNEL_SMS;
  SET(c->base_url, "https://sms.example.com");
  SET(c->account, "AC00000000000000000000000000000001");
  SET(c->sender, "+5511300000000");
  c->secret = (char *)"sms-auth-token";
}

static inline void conf_email(ct_provider_conf_t *c) {
  memset(c, 0, sizeof *c);
  SET(c->name, "email-test");
  c->channel = CT_CHANNEL_EMAIL;
  SET(c->base_url, "https://mail.example.com");
  SET(c->sender, "faturas@banco.example.com");
  SET(c->sender_name, "Banco Exemplo");
  c->secret = (char *)"SG.synthetic-key";
}

static inline void templates_ptbr(ct_templates_t *t) {
  memset(t, 0, sizeof *t);
  SET(t->locale, "pt-BR");
  t->sms_invoice = (char *)"{name}, sua fatura {number} de {amount} vence em {due_date}. "
                           "Codigo de barras: {barcode}";
  t->email_subject = (char *)"Sua fatura {number} vence em {due_date}";
  t->email_text = (char *)"Ola, {name}. Fatura {number}: {amount}, vence em {due_date}.";
  t->email_html = (char *)"<p>Ola, {name}.</p><p><b>{amount}</b> em {due_date}</p>";
}

#endif
