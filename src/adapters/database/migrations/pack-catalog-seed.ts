/**
 * The pack catalog a fresh database starts with: the twelve packs of the client contract's /packs-info
 * example, in its order, with its names, display names and image URLs. The URLs are data for the app;
 * the server never fetches them. The prompts are written for this server (the contract does not show any).
 *
 * Each run aims at about 20 portraits: ten prompts with two images each for most packs, six looks with
 * three takes each for headshots (so users can pick the best of similar shots), and one prompt per wonder
 * with three images each for the Seven Wonders.
 */

const THUMBNAILS = 'https://storage.googleapis.com/jetrr-public/pack-thumbnails-v1';
const PACK_IMAGES = 'https://storage.googleapis.com/jetrr-public/single-pack-images-v1';

export interface SeedPack {
  name: string;
  displayName: string;
  /** Set for the packs in the example's featuredPacks. */
  featuredThumbnail?: string;
  thumbnail: string | string[];
  thumbnailImages: string[];
  numImagesPerPrompt: number;
  prompts: string[];
}

export const SEED_NEGATIVE_PROMPT =
  'blurry, low resolution, deformed face, distorted eyes, extra fingers, extra limbs, watermark, text, logo, cropped head';

/** The example's four `thumbnail_images` of a pack: `<stem><separator>1.png` to `<stem><separator>4.png`. */
function packImages(stem: string, separator = '_'): string[] {
  return [1, 2, 3, 4].map((index) => `${PACK_IMAGES}/${stem}${separator}${index}.png`);
}

const NEONPUNK_THUMBNAIL_LIST = [`${THUMBNAILS}/Neonpunk.png`, `${THUMBNAILS}/Neonpunk.png`, `${THUMBNAILS}/Neonpunk.png`];

export const SEED_PACKS: SeedPack[] = [
  {
    name: 'modern',
    displayName: 'Modern',
    thumbnail: NEONPUNK_THUMBNAIL_LIST,
    thumbnailImages: packImages('modern'),
    numImagesPerPrompt: 2,
    prompts: [
      'Candid portrait of the person in a bright minimalist loft, soft window light, neutral tones, 50mm lens, shallow depth of field',
      'The person in a modern coffee shop with a laptop, warm morning light, natural smile, editorial lifestyle photo',
      'Street portrait of the person in a glass-and-steel business district at golden hour, sharp focus on the face',
      'The person on a rooftop terrace at dusk with the city skyline behind, string lights, smart-casual outfit, cinematic color grade',
      'Portrait of the person in a concrete architectural space with clean geometric shadows, monochrome outfit, magazine style',
      'The person riding an electric scooter along a waterfront promenade on a sunny day, dynamic angle, crisp modern photography',
      'The person in a contemporary art gallery in front of a large abstract canvas, white walls, diffuse museum lighting',
      'Close-up portrait of the person in a knit sweater with wireless earbuds, pastel backdrop, soft studio light',
      'The person cooking in a sleek open-plan kitchen with marble counters, natural daylight, lifestyle magazine photo',
      'The person at a co-working space beside a whiteboard full of sketches, confident expression, bright airy interior',
    ],
  },
  {
    name: 'fantasy',
    displayName: 'Magical & Fantasy',
    thumbnail: `${THUMBNAILS}/Fantasy.png`,
    thumbnailImages: packImages('fantasy'),
    numImagesPerPrompt: 2,
    prompts: [
      'The person as an elven ranger in an ancient misty forest, leather armor, glowing runes on the bow, fantasy oil painting',
      'The person as a sorcerer casting a swirling spell of blue fire, flowing robes, dramatic rim light, epic fantasy art',
      'The person as a monarch on a crystal throne in an ice palace, jeweled crown, frost patterns, magical atmosphere',
      'The person riding a majestic dragon above the clouds at sunrise, wind in the hair, detailed fantasy illustration',
      'The person as a forest druid among fireflies and glowing mushrooms, moss-covered stones, soft ethereal light',
      'The person as a knight in ornate silver armor holding a glowing sword, castle ruins and stormy sky behind, heroic portrait',
      'The person as a fairy with iridescent wings in a moonlit flower meadow, sparkling particles, dreamy pastel palette',
      'The person as an alchemist in a candlelit tower library, bubbling potions, floating books, warm golden light',
      'The person as a merfolk royal on a rock in a turquoise lagoon, shimmering scales, sunbeams through the water',
      'The person as a wizard reading a glowing spellbook, star-patterned cloak, mystical portrait',
    ],
  },
  {
    name: 'headshots',
    displayName: 'Professional Headshots',
    thumbnail: `${THUMBNAILS}/Headshots.png`,
    thumbnailImages: packImages('headshots'),
    numImagesPerPrompt: 3,
    prompts: [
      'Corporate headshot of the person in a navy suit, plain light grey studio background, soft even lighting, sharp focus',
      'Professional headshot of the person in a smart-casual shirt, blurred modern office behind, natural window light, approachable smile',
      'Studio headshot of the person against a charcoal backdrop, Rembrandt lighting, confident expression, executive portrait',
      'Outdoor professional headshot of the person in business attire, soft green park bokeh, overcast daylight, friendly expression',
      'Headshot of the person on a clean white background, crisp high-key lighting, subtle smile, company website style',
      'Professional headshot of the person in a creative-industry outfit, warm neutral backdrop, soft key light, relaxed pose',
    ],
  },
  {
    name: 'characters',
    displayName: 'Fictional Characters',
    thumbnail: `${THUMBNAILS}/Fictional%20characters.png`,
    thumbnailImages: packImages('characters'),
    numImagesPerPrompt: 2,
    prompts: [
      'The person as a trench-coated detective in a rainy 1940s city at night, fedora, neon reflections, film noir style',
      'The person as a swashbuckling pirate captain on a ship deck, tricorn hat, ocean spray, adventurous painted portrait',
      'The person as a caped superhero on a skyscraper ledge at night, city lights below, comic book style',
      'The person as a wild-west gunslinger in a dusty frontier town at high noon, cowboy hat, cinematic western',
      'The person as a secret agent in a tailored tuxedo at a glamorous casino, dramatic lighting, spy thriller poster',
      'The person as a fairytale hero in a storybook village, embroidered tunic, whimsical illustrated style',
      'The person as a samurai in a cherry blossom courtyard, traditional armor, katana, ukiyo-e inspired painting',
      'The person as a steampunk inventor with brass goggles and clockwork gadgets, cluttered workshop, sepia tones',
      'The person as a vampire aristocrat in a gothic candlelit castle, velvet cape, pale moonlight, dark elegant portrait',
      'The person as the hero of an animated film, colorful 3D cartoon style, expressive eyes, playful adventure scene',
    ],
  },
  {
    name: 'science',
    displayName: 'Science Fiction',
    thumbnail: `${THUMBNAILS}/Science%20fiction.png`,
    thumbnailImages: packImages('science'),
    numImagesPerPrompt: 2,
    prompts: [
      'The person as a starship captain on the bridge of a spacecraft, holographic displays, deep space through the viewport',
      'The person in a sleek white spacesuit on the surface of Mars, red dust, Earth in the sky, photorealistic',
      'The person as an android with faint glowing circuit lines on the skin, clean laboratory, cool blue light',
      'The person exploring an alien jungle of bioluminescent plants under two moons, science fiction concept art',
      'The person in a futuristic armored exosuit in a hangar full of dropships, dramatic volumetric lighting',
      'The person floating in zero gravity inside a space station module, Earth through the window, realistic photo',
      'The person as a time traveler stepping out of a glowing portal, swirling energy, retro-futuristic costume',
      'The person piloting a hover car through a megacity of towering skyscrapers and flying traffic, film still',
      'The person as a scientist in a high-tech lab with holographic DNA models, white surfaces, blue accents',
      'The person on a desert planet under a giant ringed gas giant, flowing cloak, epic space opera poster',
    ],
  },
  {
    name: 'seven_wonders',
    displayName: 'Seven Wonders of the World',
    thumbnail: `${THUMBNAILS}/Seven_Wonders.png`,
    thumbnailImages: packImages('seven_wonders'),
    numImagesPerPrompt: 3,
    prompts: [
      'Travel photo of the person on the Great Wall of China, the wall winding over green mountains, clear morning light',
      'Travel photo of the person in front of the Treasury at Petra, Jordan, rose-red sandstone facade, warm afternoon light',
      'Travel photo of the person at the Christ the Redeemer statue in Rio de Janeiro, city and Sugarloaf Mountain below, blue sky',
      'Travel photo of the person overlooking Machu Picchu, Peru, terraced ruins and Huayna Picchu in soft mist',
      'Travel photo of the person in front of the El Castillo pyramid at Chichen Itza, Mexico, bright sun',
      'Travel photo of the person outside the Colosseum in Rome at golden hour, ancient stone arches, warm tones',
      'Travel photo of the person at the Taj Mahal in Agra, reflecting pool and white marble dome at sunrise',
    ],
  },
  {
    name: 'neon',
    displayName: 'Neonpunk',
    featuredThumbnail: `${PACK_IMAGES}/neon_1.png`,
    thumbnail: `${THUMBNAILS}/Neonpunk.png`,
    thumbnailImages: packImages('neon'),
    numImagesPerPrompt: 2,
    prompts: [
      'Neonpunk portrait of the person on a rain-soaked street at night, magenta and cyan neon signs, reflections on wet asphalt',
      'The person in a neon-lit alley full of holographic advertisements, futuristic streetwear, vivid synthwave colors',
      'Close-up of the person with neon light across the face, pink and electric blue rim lights, dark background',
      'The person on a rooftop above a neon megacity, flying cars drawing light trails, cyberpunk atmosphere',
      'The person in a reflective jacket and LED visor inside a neon arcade of glowing retro game cabinets',
      'The person riding a motorcycle through a tunnel of neon lights, motion blur, high-energy cyberpunk scene',
      'The person in a crowded night market under glowing signs, steam rising, neon noir',
      'Portrait of the person with glowing cybernetic accents, purple haze and laser beams, neonpunk digital art',
      'The person in a neon-lit ramen bar at night, rain on the window, moody teal and pink palette',
      'The person in front of a giant holographic billboard, silhouette outlined in neon, futuristic skyline',
    ],
  },
  {
    name: 'gta',
    displayName: 'GTA',
    featuredThumbnail: `${THUMBNAILS}/Gta.png`,
    thumbnail: `${THUMBNAILS}/Gta.png`,
    thumbnailImages: packImages('gta', '-'),
    numImagesPerPrompt: 2,
    prompts: [
      'The person as an action video game cover character, bold ink outlines, saturated colors, palm-lined sunset boulevard, loading screen art',
      'The person leaning on a classic muscle car in front of a beachfront city, illustrated video game poster, hard shadows',
      'The person in aviator sunglasses holding a phone, skyline and helicopter behind, comic-style crime game artwork',
      'The person on a speedboat crossing a bay at sunset, dramatic pose, vivid painted video game illustration',
      'The person in a tracksuit and gold chain on a street corner, stylized loading screen portrait, bold lines',
      'The person riding a sport motorcycle on a freeway at dusk, city lights, high-contrast illustrated action game art',
      'The person in a sharp suit in a penthouse overlooking the city, stylized crime drama game illustration',
      'The person on a beach with a lifeguard tower and palm trees, sun-bleached colors, cel-shaded game poster',
      'The person beside a convertible on a desert highway, getaway driver pose, retro 1980s game artwork',
      'The person in a leather jacket under a bridge at night, city lights, gritty stylized open-world game loading screen',
    ],
  },
  {
    name: 'historical',
    displayName: 'Historical & Renaissance',
    featuredThumbnail: `${PACK_IMAGES}/historical_1.png`,
    thumbnail: `${THUMBNAILS}/Historical%20%26%20renaissance.png`,
    thumbnailImages: packImages('historical'),
    numImagesPerPrompt: 2,
    prompts: [
      'Renaissance oil portrait of the person in velvet and lace, dark background, soft chiaroscuro, 16th-century Italian painting',
      'The person as a Roman senator in a white toga in a marble forum, classical painting',
      'The person as an ancient Egyptian noble with a gold collar and kohl-lined eyes, temple columns, painterly portrait',
      'The person as a Viking explorer on a longship in a fjord, fur cloak, braided hair, overcast sky, historical painting',
      'The person in Elizabethan court dress with a ruff collar, ornate palace interior, detailed oil painting',
      'The person as a Baroque aristocrat with a powdered wig and silk coat, candlelit ballroom, rich gold tones',
      'The person as a medieval scholar in a monastery scriptorium, illuminated manuscripts, warm candlelight',
      'The person as a Greek philosopher among white marble columns, draped robes, Mediterranean light, fresco style',
      'The person as a Venetian merchant on a balcony above a canal, Renaissance clothing, golden hour, oil on canvas',
      'The person as a Dutch Golden Age sitter with a white collar and dark clothing, soft window light, 17th-century portrait',
    ],
  },
  {
    name: 'doppleganger',
    displayName: 'Doppelgängers',
    thumbnail: `${THUMBNAILS}/Doppleganger.png`,
    thumbnailImages: packImages('doppleganger'),
    numImagesPerPrompt: 2,
    prompts: [
      'Twins who both look exactly like the person, standing back to back in matching outfits, playful studio portrait',
      'The person shaking hands with an exact double of themselves in a busy train station, cinematic mystery still',
      'The person and their double sitting face to face at a cafe table, warm afternoon light',
      'The person looking into a mirror whose reflection wears a different outfit and smiles, surreal photo',
      'Two versions of the person, one in formal wear and one in streetwear, side by side on a split two-color backdrop',
      'The person passing their identical twin on a city crosswalk, both turning to look, film still, shallow depth of field',
      'The person and their doppelganger playing chess in a dim library, dramatic overhead light, thriller mood',
      'Three copies of the person in a row, each with a different expression, clean studio photo',
      'The person and a double in vintage clothes posing like an old twin photograph, sepia tones, film grain',
      'The person meeting their double on a foggy bridge at night, lamplight, mysterious atmosphere',
    ],
  },
  {
    name: 'fashion',
    displayName: 'Fashion',
    featuredThumbnail: `${PACK_IMAGES}/fashion_1.png`,
    thumbnail: `${THUMBNAILS}/Fashion.png`,
    thumbnailImages: packImages('fashion'),
    numImagesPerPrompt: 2,
    prompts: [
      'High-fashion editorial portrait of the person in a tailored designer coat, minimal studio set, dramatic beauty lighting',
      'The person walking a runway in an avant-garde outfit, camera flashes, fashion week atmosphere',
      'Street-style photo of the person in a layered outfit on a Paris street, candid pose, soft overcast light',
      'The person in elegant evening wear on a red carpet, glamorous lighting, paparazzi bokeh',
      'Fashion portrait of the person in bold color-blocked clothing against a matching backdrop, pop art editorial',
      'The person in a leather jacket and sunglasses beside a vintage convertible on a sunny Riviera coast',
      'Black-and-white fashion portrait of the person in a sharp monochrome outfit, strong contrast, timeless elegance',
      'The person in flowing silk on a windswept desert dune, golden light, high-end campaign photo',
      'The person in streetwear and sneakers in front of a graffiti wall, urban fashion lookbook',
      'The person in a classic trench coat under an umbrella on a rainy street, moody fashion editorial',
    ],
  },
  {
    name: 'old',
    displayName: 'Olden Times',
    thumbnail: `${THUMBNAILS}/Olden%20times.png`,
    thumbnailImages: packImages('old'),
    numImagesPerPrompt: 2,
    prompts: [
      'Victorian portrait of the person in period clothing, sepia daguerreotype, studio chair and drapes',
      'The person as a 1920s jazz club regular in flapper or dapper evening wear, black-and-white photo, art deco interior',
      'The person in 1950s clothes at a retro diner with chrome stools, faded Kodachrome colors',
      'The person in 1960s mod fashion on a London street, vintage film grain, bright pastel tones',
      'The person in a 1970s disco outfit on a lit dance floor under a mirror ball, warm film colors',
      'The person as an early 1900s aviator in leather helmet and goggles beside a biplane, sepia photograph',
      'Old west tintype portrait of the person in frontier clothing, scratched plate, dark vignette',
      'The person in 1940s clothes on a steam train platform, black-and-white film still',
      'The person in a 1980s outfit with big hair and a neon windbreaker, retro instant photo look',
      'The person as a Gilded Age aristocrat in an opulent parlor, hand-tinted vintage photograph',
    ],
  },
];
