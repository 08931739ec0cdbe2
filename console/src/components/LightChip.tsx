import { Chip } from '@mui/material';
import type { Light } from '../gql/graphql';

const LIGHTS: Record<Light, { text: string; color: 'success' | 'warning' | 'error' }> = {
  GREEN: { text: 'up', color: 'success' },
  AMBER: { text: 'behind', color: 'warning' },
  RED: { text: 'down', color: 'error' },
};

/** A traffic light told by colour and by word, so it reads without colour too. */
export function LightChip({ light, size = 'small' }: { light: Light; size?: 'small' | 'medium' }) {
  const { text, color } = LIGHTS[light];
  return <Chip label={text} color={color} size={size} variant="filled" />;
}

export function lightText(light: Light): string {
  return LIGHTS[light].text;
}
