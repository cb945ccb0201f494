import { zxcvbn, zxcvbnOptions } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';

zxcvbnOptions.setOptions({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });

/** zxcvbn's "safely unguessable" (about 10^8 guesses and more): common, repeated and keyboard patterns score lower. */
const MIN_SCORE = 3;

/**
 * Why a password is refused, or undefined when it is fine: at least 10 characters and not
 * guessable from common passwords, repeats, sequences, keyboard walks or the person's own
 * username and name (zxcvbn with the common dictionaries).
 */
export function passwordProblem(password: string, personal: readonly string[] = []): string | undefined {
  if (password.length < 10) return 'at least 10 characters';
  const result = zxcvbn(
    password,
    personal.filter((s) => s.length > 0),
  );
  if (result.score >= MIN_SCORE) return undefined;
  const why = {
    common: 'a common password',
    topTen: 'one of the most common passwords',
    topHundred: 'one of the most common passwords',
    similarToCommon: 'too like a common password',
    simpleRepeat: 'a repeated character',
    extendedRepeat: 'a repeated pattern',
    sequences: 'a sequence like abc or 123',
    straightRow: 'a row of keys',
    keyPattern: 'a keyboard pattern',
    recentYears: 'a recent year',
    dates: 'a date',
    userInputs: 'your own name or username',
  }[result.feedback.warning ?? ''];
  return `too easy to guess${why ? ` (${why})` : ''}: use a longer phrase of unrelated words`;
}
