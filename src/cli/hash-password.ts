/**
 * `holdfast hash-password`: reads the technician password from standard input (first line)
 * and prints the scrypt hash to put in `status.passwordHash`. Never takes the password as
 * an argument, so it stays out of shell history and `ps`.
 */
import { HoldfastError } from '../errors.js'
import { hashPassword } from '../status/password.js'
import { readFirstLine } from './stdin.js'

export async function hashPasswordCommand(): Promise<void> {
  const password = await readFirstLine('technician password (then Enter): ')
  if (password.length < 8)
    throw new HoldfastError('HF_ERR_USAGE', 'the password must have at least 8 characters (read from standard input)')
  process.stdout.write((await hashPassword(password)) + '\n')
}
