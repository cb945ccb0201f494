export { normalisePostcode, postcodeDistrict } from '@telecare/contracts';
