import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseStrictJson } from '../src/lib/json';
import { requestOrigin } from '../src/lib/public-base';

describe('strict JSON bodies', () => {
  it('refuses a key given twice, however the second is spelled', () => {
    for (const text of [
      '{"role":"viewer","role":"admin"}',
      '{"role":"viewer","r\\u006fle":"admin"}',
      '{"a":{"x":1,"x":2}}',
      '{"a\\"b":1,"a\\"b":2}',
      '{"a\\\\":1,"a\\\\":2}',
    ]) {
      const result = parseStrictJson(text);
      expect(result.ok, text).toBe(false);
      if (!result.ok) expect(result.problem).toBe('duplicate_key');
    }
  });

  it('reads escaped quotes and backslashes inside strings as string content, not structure', () => {
    for (const text of [
      '{"a":"\\"b\\":1,\\"b\\":2","b":3}',
      '{"a":"ends with a backslash \\\\","b":"\\\\\\"","c":1}',
      '{"role":"x"}',
      '{"a":{"x":1},"b":{"x":1}}',
      `{"token":"${'e'.repeat(2000)}","permission":"projects:read"}`,
    ]) {
      const result = parseStrictJson(text);
      expect(result, text).toEqual({ ok: true, value: JSON.parse(text) });
    }
  });

  it('refuses nesting deeper than the limit and invalid JSON', () => {
    expect(parseStrictJson('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1))).toEqual({ ok: false, problem: 'too_deep' });
    expect(parseStrictJson('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)).ok).toBe(true);
    expect(parseStrictJson('{"a":"unterminated}')).toEqual({ ok: false, problem: 'invalid_json' });
  });
});

describe('the origin of a request URL', () => {
  it('answers what URL parsing answers, including after a look-alike host or port', () => {
    for (const url of [
      'https://api.example.com/v1/authorize',
      'https://api.example.com/v1/health?x=1',
      'https://api.example.com.evil.test/v1/authorize',
      'https://api.example.com:8443/v1/authorize',
      'http://api.example.com/v1/authorize',
      'https://api.example.com/',
      'http://127.0.0.1:8787/v1/authorize',
    ]) {
      expect(requestOrigin(url), url).toBe(new URL(url).origin);
    }
  });
});
