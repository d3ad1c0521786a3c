// The vdsm.conf syntax with configparser's rules: delimiters, comments, continuation lines, duplicates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIni } from '../../src/config/ini-parser.js';

const entries = (text: string): [string, string, string, number][] => parseIni(text, 'f.conf').entries.map((e) => [e.section, e.key, e.value, e.line]);

void describe('vdsm.conf parser', () => {
  void it('reads key = value and key: value, trimming blanks around the delimiter and the value', () => {
    assert.deepEqual(entries('[vars]\nssl = false\nlog_level:debug\nvdsm_nice   =   -3   \n'), [
      ['vars', 'ssl', 'false', 2],
      ['vars', 'log_level', 'debug', 3],
      ['vars', 'vdsm_nice', '-3', 4],
    ]);
  });

  void it('as in configparser, a key line indented deeper than the previous key continues its value', () => {
    assert.deepEqual(entries('[vars]\nlog_level = debug\n  vdsm_nice = -3\n'), [['vars', 'log_level', 'debug\nvdsm_nice = -3', 2]]);
  });

  void it('splits on the first delimiter: the value may contain = and :', () => {
    assert.deepEqual(entries('[libvirt]\nuri = test:///a=b\n'), [['libvirt', 'uri', 'test:///a=b', 2]]);
  });

  void it('lower-cases keys but not section names', () => {
    assert.deepEqual(entries('[Vars]\nSSL = 1\n'), [['Vars', 'ssl', '1', 2]]);
  });

  void it('skips whole-line # and ; comments, even indented, but keeps a # after a value', () => {
    assert.deepEqual(entries('# top\n[vars]\n; semi\n   # indented\nssl = no # not a comment\n'), [['vars', 'ssl', 'no # not a comment', 5]]);
  });

  void it('joins indented continuation lines with newlines; blank lines inside stay, trailing ones go', () => {
    const text = '[addresses]\nrequest_queues = a,\n    b,\n\n    c\n\nevent_queue = q\n';
    assert.deepEqual(entries(text), [
      ['addresses', 'request_queues', 'a,\nb,\n\nc', 2],
      ['addresses', 'event_queue', 'q', 7],
    ]);
  });

  void it('an indented key line after a section header is a key, not a continuation', () => {
    assert.deepEqual(entries('[vars]\n  ssl = no\n  http_enable = no\n'), [
      ['vars', 'ssl', 'no', 2],
      ['vars', 'http_enable', 'no', 3],
    ]);
  });

  void it('accepts an empty value, CRLF line ends and a byte order mark', () => {
    assert.deepEqual(entries('\uFEFF[vars]\r\ncpu_affinity =\r\nssl = no\r\n'), [
      ['vars', 'cpu_affinity', '', 2],
      ['vars', 'ssl', 'no', 3],
    ]);
  });

  void it('keeps [DEFAULT] entries like any section', () => {
    assert.deepEqual(entries('[DEFAULT]\nbase = /x\n'), [['DEFAULT', 'base', '/x', 2]]);
  });

  void it('reports every bad line with its number, and keeps parsing after each', () => {
    const doc = parseIni('stray = 1\n[vars]\nno delimiter here\n= novalue\nssl = no\n[vars]\nssl = yes\nSSL = on\n', 'f.conf');
    assert.deepEqual(
      doc.problems.map((p) => [p.line, p.message.split(':')[0]]),
      [
        [1, '"stray = 1" comes before any [section] header'],
        [3, 'cannot parse "no delimiter here"'],
        [4, 'cannot parse "= novalue"'],
        [6, 'section [vars] appears twice in this file'],
        [7, 'key appears twice in this section of this file'],
        [8, 'key appears twice in this section of this file'],
      ],
    );
    assert.ok(doc.entries.some((e) => e.key === 'ssl' && e.line === 5));
    assert.equal(doc.problems[0]!.where, 'f.conf');
  });
});
