// Standard Webhooks signing, against the specification's reference library (standardwebhooks on npm).
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, webhookSecretKey } from '../../src/crypto/webhook-signature.js';

describe('webhook signatures', () => {
  it('sign what the reference library signs and verifies', async () => {
    const secret = generateWebhookSecret();
    const now = new Date();
    const seconds = Math.floor(now.getTime() / 1000);
    const body = JSON.stringify({
      type: 'credentials.revoked',
      timestamp: now.toISOString(),
      data: { jtis: ['a'] },
    });
    const signature = await signWebhook(secret, 'msg_1', seconds, body);
    const reference = new Webhook(secret);
    expect(signature).toBe(reference.sign('msg_1', new Date(seconds * 1000), body));
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(seconds),
      'webhook-signature': signature,
    };
    expect(reference.verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => reference.verify(`${body} `, headers)).toThrow();
    expect(() => reference.verify(body, { ...headers, 'webhook-id': 'msg_2' })).toThrow();
  });

  it('generates whsec_ secrets of 32 random bytes, and reads only 24 to 64 byte ones', async () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhookSecretKey(secret)).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
    const of = (bytes: number) => `whsec_${Buffer.alloc(bytes, 5).toString('base64')}`;
    expect(webhookSecretKey(of(24))).toHaveLength(24);
    expect(webhookSecretKey(of(64))).toHaveLength(64);
    for (const bad of [
      of(23),
      of(65),
      'whsec_',
      'whsec_!!!!',
      `${of(32)}x`,
      of(32).replace('whsec_', 'whsek_'),
      of(32).slice(6),
    ]) {
      expect(webhookSecretKey(bad), bad).toBeUndefined();
    }
    await expect(signWebhook('not a secret', 'id', 0, '')).rejects.toThrow(TypeError);
  });
});
