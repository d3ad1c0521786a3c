// The configuration's public API, for composition roots (vdsmd, vdsm-tool) and services' types.
export { configArgOptions, CONFIG_OPTIONS_HELP, loadOptionsFromArgs, type ConfigArgValues } from './cli-options.js';
export {
  DEFAULT_CONFIG_FILE,
  defaultDropinDirs,
  describeSource,
  dropinDirsFor,
  loadConfig,
  type ConfigSource,
  type ConfigSources,
  type LoadConfigOptions,
  type LoadedConfig,
  type ValueSource,
} from './load-config.js';
export { isProfileName, PROFILES, type ProfileName } from './profiles.js';
export { renderConfigDocs, renderEffectiveConfig, renderSampleConfig } from './render.js';
export { schema, type PartialConfig, type SectionName, type VdsmConfig } from './schema.js';
export { parseSetOption, type SetOption } from './set-option.js';
export { ConfigurationError, formatViolation, type Violation } from './violations.js';
