/**
 * The response-hygiene sweep (docs/security-decisions.md#secrets-in-answers), after every test file of the
 * projects that list this setup file: no answer the file received carries a
 * password, hash, secret digest or private key member, a suite password or
 * the root key, and each secret the file recorded with `issuedOnce` is in
 * exactly one answer. A file adds values of its own with `neverInAnswers`.
 *
 * Setup files run in each test file's own module graph, so `seenBodies` and
 * the lists below are that file's alone.
 */
import { afterAll } from 'vitest';
import { expectHygiene } from '../helpers';

afterAll(() => {
  expectHygiene();
});
