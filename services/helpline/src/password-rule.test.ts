import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { passwordProblem } from './password-rule.ts';

describe('passwordProblem', () => {
  it.each([
    ['password123', /common/],
    ['1234567890', /common|sequence/],
    ['qwertyuiop', /common|row|keyboard/],
    ['aaaaaaaaaaaa', /repeated/],
    ['abcabcabcabc', /repeated/],
    ['Password1234', /common/],
    ['short', /10 characters/],
  ])('refuses %s', (password, why) => {
    expect(passwordProblem(password)).toMatch(why);
  });

  it("refuses the person's own username as a password", () => {
    expect(passwordProblem('olive.smith@example', ['olive.smith@example'])).toMatch(/too easy/);
  });

  it('accepts phrases and generated passwords', () => {
    expect(passwordProblem('correct horse battery')).toBeUndefined();
    expect(passwordProblem(randomBytes(12).toString('base64url'))).toBeUndefined();
  });
});
