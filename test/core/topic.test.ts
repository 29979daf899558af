import { describe, expect, it } from 'vitest';
import {
  MAX_FILTER_BYTES,
  MAX_TOPIC_BYTES,
  topicFilterProblem,
  topicNameProblem,
  topicNameProblemMessages,
  topicProblemMessages,
} from '../../src/core/topic.js';

describe('topicFilterProblem', () => {
  it.each([
    ['sport/tennis/player1/#', null],
    ['sport/#', null],
    ['#', null],
    ['+', null],
    ['+/tennis/#', null],
    ['sport/+/player1', null],
    ['/', null],
    ['a//b', null],
    ['$SYS/#', null],
    ['', 'empty'],
    ['sport/tennis#', 'wildcard_not_whole_level'],
    ['sport+', 'wildcard_not_whole_level'],
    ['sport/++', 'wildcard_not_whole_level'],
    ['sport/tennis/#/ranking', 'multi_level_wildcard_not_last'],
    ['#/a', 'multi_level_wildcard_not_last'],
    ['a/\u0000', 'null_character'],
  ])('%j -> %s', (filter, problem) => {
    expect(topicFilterProblem(filter)).toBe(problem);
  });

  it('limits ACL filters to MAX_FILTER_BYTES of UTF-8, not characters', () => {
    expect(topicFilterProblem('a'.repeat(MAX_FILTER_BYTES))).toBeNull();
    expect(topicFilterProblem('a'.repeat(MAX_FILTER_BYTES + 1))).toBe('too_long');
    // 'é' is two bytes: 512 of them fit exactly, 513 do not.
    expect(topicFilterProblem('é'.repeat(MAX_FILTER_BYTES / 2))).toBeNull();
    expect(topicFilterProblem('é'.repeat(MAX_FILTER_BYTES / 2 + 1))).toBe('too_long');
  });

  it('takes a larger limit for the filters clients subscribe with', () => {
    const long = `${'a'.repeat(5000)}/#`;
    expect(topicFilterProblem(long)).toBe('too_long');
    expect(topicFilterProblem(long, MAX_TOPIC_BYTES)).toBeNull();
  });

  it('has a message for every problem', () => {
    expect(Object.keys(topicProblemMessages).sort()).toEqual(
      [
        'empty',
        'multi_level_wildcard_not_last',
        'null_character',
        'too_long',
        'wildcard_not_whole_level',
      ].sort(),
    );
  });
});

describe('topicNameProblem', () => {
  it.each([
    ['sport/tennis/player1', null],
    ['/finance', null],
    ['finance/', null],
    ['/', null],
    ['a//b', null],
    ['Accounts payable', null],
    ['$SYS/monitor/Clients', null],
    ['', 'empty'],
    ['sport/+', 'wildcard'],
    ['sport/#', 'wildcard'],
    ['sport+', 'wildcard'],
    ['a\u0000b', 'null_character'],
  ])('%j -> %s', (name, problem) => {
    expect(topicNameProblem(name)).toBe(problem);
  });

  it('allows up to 65,535 bytes of UTF-8 (MQTT §1.5.4)', () => {
    expect(topicNameProblem('a'.repeat(MAX_TOPIC_BYTES))).toBeNull();
    expect(topicNameProblem('a'.repeat(MAX_TOPIC_BYTES + 1))).toBe('too_long');
    // '€' is three bytes: 21,845 of them are 65,535 bytes.
    expect(topicNameProblem('€'.repeat(21_845))).toBeNull();
    expect(topicNameProblem(`${'€'.repeat(21_845)}a`)).toBe('too_long');
    // '😀' is two UTF-16 units and four bytes.
    expect(topicNameProblem('😀'.repeat(16_383))).toBeNull();
    expect(topicNameProblem('😀'.repeat(16_384))).toBe('too_long');
  });

  it('has a message for every problem', () => {
    expect(Object.keys(topicNameProblemMessages).sort()).toEqual([
      'empty',
      'null_character',
      'too_long',
      'wildcard',
    ]);
  });
});
