// What can go wrong delivering to a subscriber, each with a stable code (docs/errors.md, "Webhooks") and
// whether trying again can help.
import { FerryError } from '@ferry/core';

export class WebhookError extends FerryError {
  override readonly name = 'WebhookError';
}

export const WebhookErrorCodes = {
  /** A secret that is not `whsec_` + base64 (Standard Webhooks) of at least 24 bytes. */
  WEBHOOK_SECRET_INVALID: 'WEBHOOK_SECRET_INVALID',
  /** An endpoint the address policy refuses (SSRF guard): at validation, or when its name resolves. */
  WEBHOOK_ADDRESS_REFUSED: 'WEBHOOK_ADDRESS_REFUSED',
  /** No subscription of that name in the running webhooks files (pause, resume, status by name). */
  WEBHOOK_SUBSCRIPTION_NOT_FOUND: 'WEBHOOK_SUBSCRIPTION_NOT_FOUND',
} as const;
